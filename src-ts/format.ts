// Human-readable rates and counters for the CLI.

import type { DataplaneStats } from './native';

/** `712.4 kpps`, `1.23 Mpps`. */
export function formatRate(pps: number): string {
  if (pps >= 1e6) {
    return `${(pps / 1e6).toFixed(2)} Mpps`;
  }
  if (pps >= 1e3) {
    return `${(pps / 1e3).toFixed(1)} kpps`;
  }
  return `${pps.toFixed(0)} pps`;
}

/** `{ no_verdict: 3 }` → `no_verdict 3`; `-` when every count is zero. */
function formatReasons(counts: Record<string, number>): string {
  const nonZero = Object.entries(counts).filter(([, n]) => n > 0);
  return nonZero.length === 0 ? '-' : nonZero.map(([reason, n]) => `${reason} ${n}`).join(', ');
}

/** One line per queue, port and pipeline stage. */
export function formatStats(stats: DataplaneStats): string {
  const lines: string[] = [];
  for (const q of stats.queues) {
    const x = q.xdp;
    lines.push(
      `queue ${q.interface}/${q.queue} (port ${q.port}, core ${q.core}, ${q.zeroCopy ? 'zero-copy' : 'copy'}): ` +
        `rx ${q.rxPackets} pkts ${q.rxBytes} B in ${q.rxBatches} batches, tx ${q.txPackets} pkts ${q.txBytes} B, ` +
        `to kernel ${q.kernelPackets}, dropped: ${formatReasons(q.dropped)}`,
      `  socket: rx_dropped ${x.rxDropped}, rx_ring_full ${x.rxRingFull}, fill_ring_empty ${x.rxFillRingEmptyDescs}, ` +
        `tx_ring_empty ${x.txRingEmptyDescs}, invalid rx/tx ${x.rxInvalidDescs}/${x.txInvalidDescs}`,
    );
  }
  for (const p of stats.ports) {
    lines.push(
      `port ${p.port} ${p.interface} (${p.attachMode} XDP): redirected ${p.redirected}, no socket ${p.noSocket}, ` +
        `passed to kernel: ${formatReasons(p.passed)}`,
    );
  }
  for (const s of stats.pipeline) {
    lines.push(`pipeline stage ${s.stage} (count): ${s.packets} pkts ${s.bytes} B`);
  }
  return lines.join('\n');
}

/** A status line rewritten in place on a terminal, printed line by line elsewhere. */
export class LiveLine {
  readonly #tty: boolean;
  #shown = false;

  constructor(readonly stream: NodeJS.WriteStream = process.stdout) {
    this.#tty = stream.isTTY === true;
  }

  update(text: string): void {
    this.stream.write(this.#tty ? `\r\x1b[K${text}` : `${text}\n`);
    this.#shown = true;
  }

  /** Ends the line so later output starts below it. */
  done(): void {
    if (this.#tty && this.#shown) {
      this.stream.write('\n');
    }
    this.#shown = false;
  }
}
