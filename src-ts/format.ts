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
    lines.push(
      `queue ${q.interface}/${q.queue} (port ${q.port}, core ${q.core}${q.zeroCopy ? ', zero-copy' : ''}): ` +
        `rx ${q.rxPackets} pkts ${q.rxBytes} B in ${q.rxBatches} batches, tx ${q.txPackets} pkts ${q.txBytes} B, ` +
        `to kernel ${q.kernelPackets}, from kernel ${q.fromKernelPackets}, dropped: ${formatReasons(q.dropped)}`,
    );
    if (Object.keys(q.socket).length > 0) {
      lines.push(`  socket: ${formatReasons(q.socket)}`);
    }
  }
  for (const p of stats.ports) {
    const parts = [`port ${p.port} ${p.interface}`];
    if (p.xdp) {
      parts.push(
        `${p.xdp.attachMode} XDP: redirected ${p.xdp.redirected}, no socket ${p.xdp.noSocket}, ` +
          `passed to kernel: ${formatReasons(p.xdp.passed)}`,
      );
    }
    if (p.tap) {
      parts.push(`slow path via TAP ${p.tap}`);
    }
    if (Object.keys(p.device).length > 0) {
      parts.push(`device: ${formatReasons(p.device)}`);
    }
    lines.push(parts.join('; '));
  }
  for (const s of stats.pipeline) {
    lines.push(`pipeline stage ${s.stage} (count): ${s.packets} pkts ${s.bytes} B`);
  }
  for (const p of stats.plugins) {
    lines.push(`pipeline stage ${p.stage} (plugin ${p.plugin}): ${formatReasons(p.counters)}`);
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
