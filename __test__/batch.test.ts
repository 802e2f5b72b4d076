// Batched TypeScript handlers (`{ "type": "js" }` stages). The end-to-end tests need root: each
// builds a veth test bed and runs AF_XDP in copy mode on it.

import test from 'ava';

import { PacketBatch, Verdict } from '../src-ts/batch';
import type { FastlaneConfig } from '../src-ts/config';
import { Dataplane } from '../src-ts/dataplane';
import { Testbed, type TestbedEnd } from '../src-ts/testbed';
import { TrafficGenerator, exchangeFrames, udpFrame } from '../src-ts/traffic';
import { uniquePrefix } from './helpers';

const PORT = 9000;

function jsConfig(fwd: TestbedEnd, pipeline: FastlaneConfig['pipeline'], batchSize = 32): FastlaneConfig {
  return {
    backend: 'af_xdp',
    netns: fwd.netns,
    ports: [{ interface: fwd.interface, queues: [{ id: 0, core: 1 }] }],
    filter: { udp_ports: [PORT] },
    af_xdp: { bind_mode: 'copy' },
    threads: { batch_size: batchSize },
    pipeline,
  };
}

function frameFor(bed: Testbed, len = 64): Buffer {
  const { gen, fwd } = bed;
  return udpFrame(
    { srcMac: gen.mac, dstMac: fwd.mac, srcIp: gen.address, dstIp: fwd.address, srcPort: PORT, dstPort: PORT },
    len,
  );
}

function macswap(batch: PacketBatch): void {
  const data = batch.data;
  for (let i = 0; i < batch.length; i++) {
    const o = batch.offset(i);
    for (let k = 0; k < 6; k++) {
      const t = data[o + k]!;
      data[o + k] = data[o + 6 + k]!;
      data[o + 6 + k] = t;
    }
    batch.setVerdict(i, Verdict.TRANSMIT);
  }
}

const dropped = (dp: Dataplane, reason: string) => dp.stats().queues[0]?.dropped[reason] ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('verdict codes', (t) => {
  t.is(Verdict.transmitOn(3), 0x1_0003);
  t.throws(() => Verdict.transmitOn(70_000), { instanceOf: RangeError });
});

test('onBatch before start; a pipeline with a js stage and no handler does not start', (t) => {
  const dp = new Dataplane(jsConfig({ netns: 'none', interface: 'none' } as TestbedEnd, [{ type: 'js' }]));
  t.throws(() => dp.start(), { message: /onBatch\(\)/ });
  t.throws(() => dp.onBatch(() => {}, { slots: 3 }), { message: /power of two/ });
});

test.serial('a TypeScript macswap returns UDP frames MAC-swapped, grown by setLen', async (t) => {
  const prefix = uniquePrefix('j');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 211 });
  const dp = new Dataplane(jsConfig(bed.fwd, ['count', { type: 'js' }]));
  t.teardown(() => dp.stop());
  let batches = 0;
  dp.onBatch((batch) => {
    batches++;
    macswap(batch);
    // Append one byte to every packet: lengths may change within the slot.
    for (let i = 0; i < batch.length; i++) {
      batch.data[batch.offset(i) + batch.len(i)] = 0xab;
      batch.setLen(i, batch.len(i) + 1);
    }
  });
  dp.start();
  const frame = frameFor(bed);
  const back = await exchangeFrames(bed.gen.netns, bed.gen.interface, Array(8).fill(frame), PORT, 8, 3000);
  t.is(back.length, 8);
  for (const f of back) {
    t.deepEqual(f.subarray(0, 6), frame.subarray(6, 12), 'destination is the sender');
    t.deepEqual(f.subarray(6, 12), frame.subarray(0, 6), 'source is the forwarder');
    t.deepEqual(f.subarray(12, frame.length), frame.subarray(12), 'the rest is untouched');
    t.is(f.length, frame.length + 1);
    t.is(f[frame.length], 0xab);
  }
  t.true(batches >= 1);
  const q = dp.stats().queues[0]!;
  t.true(q.txPackets >= 8);
  t.deepEqual(q.dropped, Object.fromEntries(Object.keys(q.dropped).map((k) => [k, 0])), 'nothing dropped');
});

test.serial('a handler that drops: packets are dropped and counted as processor, the rest no_verdict', async (t) => {
  const prefix = uniquePrefix('k');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 212 });
  const dp = new Dataplane(jsConfig(bed.fwd, [{ type: 'js' }]));
  t.teardown(() => dp.stop());
  let seen = 0;
  dp.onBatch((batch) => {
    // Even packets dropped, odd ones left without a verdict.
    for (let i = 0; i < batch.length; i++, seen++) {
      if (seen % 2 === 0) batch.setVerdict(i, Verdict.DROP);
    }
  });
  dp.start();
  const back = await exchangeFrames(bed.gen.netns, bed.gen.interface, Array(10).fill(frameFor(bed)), PORT, 1, 1000);
  t.is(back.length, 0);
  for (let i = 0; i < 50 && dropped(dp, 'processor') + dropped(dp, 'no_verdict') < 10; i++) await sleep(20);
  t.is(dropped(dp, 'processor'), 5);
  t.is(dropped(dp, 'no_verdict'), 5);
  t.is(dp.stats().queues[0]!.txPackets, 0);
});

test.serial('a handler that blocks for 200 ms: the data plane drops and counts instead of stalling', async (t) => {
  const prefix = uniquePrefix('l');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 213 });
  // The count stage runs on the data-plane thread before the js stage.
  const dp = new Dataplane(jsConfig(bed.fwd, ['count', { type: 'js' }]));
  t.teardown(() => dp.stop());
  let calls = 0;
  dp.onBatch(
    (batch) => {
      calls++;
      const until = Date.now() + 200;
      while (Date.now() < until) {
        // Blocks the JavaScript thread.
      }
      batch.setAllVerdicts(Verdict.DROP);
    },
    { slots: 2 },
  );
  dp.start();
  const gen = new TrafficGenerator({
    netns: bed.gen.netns,
    interface: bed.gen.interface,
    frame: frameFor(bed),
    core: 0,
    matchUdpPort: PORT,
    ratePps: 20_000,
  });
  t.teardown(() => void gen.stop());
  gen.start();
  // Sample the counters from a worker-free timer: the handler blocks this thread, so sample
  // between its runs and compare samples 200+ ms apart.
  await sleep(300);
  const first = dp.stats();
  await sleep(600);
  const second = dp.stats();
  gen.stop();
  const counted = (s: typeof first) => s.pipeline[0]?.packets ?? 0;
  t.true(calls >= 1, 'the handler ran');
  t.true(counted(second) - counted(first) > 2_000, `the data-plane thread kept counting: ${counted(first)} -> ${counted(second)}`);
  t.true(dropped(dp, 'js_backlog') > 1_000, `dropped as js_backlog: ${dropped(dp, 'js_backlog')}`);
  t.true(dp.running);
});

test.serial('stop() from inside the handler, mid-batch, is clean and the data plane restarts', async (t) => {
  const prefix = uniquePrefix('m');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 214 });
  const dp = new Dataplane(jsConfig(bed.fwd, [{ type: 'js' }]));
  t.teardown(() => dp.stop());
  let stopInside = true;
  let stopped = 0;
  dp.onBatch((batch) => {
    if (stopInside) {
      stopInside = false;
      dp.stop();
      stopped++;
      // The batch is still readable and writable after stop.
      batch.data[batch.offset(0)] = batch.data[batch.offset(0)]!;
    }
    macswap(batch);
  });
  dp.on('error', (e) => t.fail(String(e)));
  dp.start();
  await exchangeFrames(bed.gen.netns, bed.gen.interface, Array(4).fill(frameFor(bed)), PORT, 1, 1000);
  for (let i = 0; i < 50 && stopped === 0; i++) await sleep(20);
  t.is(stopped, 1);
  t.false(dp.running);
  // Batches already published when it stopped are still handed to the handler, harmlessly.
  await sleep(100);
  // Started again, the same arenas serve the new run.
  dp.start();
  const back = await exchangeFrames(bed.gen.netns, bed.gen.interface, Array(4).fill(frameFor(bed)), PORT, 4, 3000);
  t.is(back.length, 4);
  dp.stop();
  t.false(dp.running);
});

test.serial('a handler that throws has its batch dropped and the error emitted', async (t) => {
  const prefix = uniquePrefix('n');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 215 });
  const dp = new Dataplane(jsConfig(bed.fwd, [{ type: 'js' }]));
  t.teardown(() => dp.stop());
  dp.onBatch(() => {
    throw new Error('handler broke');
  });
  const errors: Error[] = [];
  dp.on('error', (e) => errors.push(e));
  dp.start();
  await exchangeFrames(bed.gen.netns, bed.gen.interface, Array(3).fill(frameFor(bed)), PORT, 1, 500);
  for (let i = 0; i < 50 && dropped(dp, 'processor') < 3; i++) await sleep(20);
  t.is(dropped(dp, 'processor'), 3);
  t.regex(errors[0]?.message ?? '', /handler broke/);
});
