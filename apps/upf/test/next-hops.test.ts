// Needs root: the UPF's next hops learnt from the kernel of the UPF's namespace on the
// three-namespace test bed — gateways, gNBs on the link and behind a router, route changes —
// written into a next-hop table (here a Map standing in for the shared-memory one).

import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';

import { NeighbourWatcher } from 'fastlane-dataplane';

import { NextHops, type NextHop, type NextHopTable } from '../src/neighbours';
import { UpfTestbed } from './testbed';

class MapTable implements NextHopTable {
  readonly hops = new Map<string, NextHop>();
  set(address: string, hop: NextHop): void {
    this.hops.set(address, hop);
  }
  delete(address: string): void {
    this.hops.delete(address);
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(20);
  }
}

test.serial('gateways and gNBs get the MAC of the next hop the kernel routes them to', async (t) => {
  const bed = UpfTestbed.up(`nh${process.pid % 10000}`, 31);
  t.teardown(() => bed.down());
  const watcher = new NeighbourWatcher(bed.upfNetns);
  t.teardown(() => watcher.stop());
  const table = new MapTable();
  const hops = new NextHops(watcher, table, [
    { port: 0, kernelInterface: bed.n3.iface },
    { port: 1, kernelInterface: bed.n6.iface },
  ]);
  t.teardown(() => hops.stop());
  t.is(table.hops.size, 0, 'the kernel knows no neighbour yet: no MAC from anywhere else');

  hops.want('0.0.0.0');
  hops.want('::');
  hops.want(bed.gnb.ipv4);
  hops.want(bed.gnb.ipv6);
  await until('four next hops', () => ['0.0.0.0', '::', bed.gnb.ipv4, bed.gnb.ipv6].every((a) => table.hops.get(a)?.state === 'reachable'));
  const n6 = watcher.interfaceIndex(bed.n6.iface);
  const n3 = watcher.interfaceIndex(bed.n3.iface);
  t.deepEqual(table.hops.get('0.0.0.0'), { mac: bed.dn.mac, port: 1, ifindex: n6, state: 'reachable' });
  t.deepEqual(table.hops.get('::'), { mac: bed.dn.mac, port: 1, ifindex: n6, state: 'reachable' });
  t.deepEqual(table.hops.get(bed.gnb.ipv4), { mac: bed.gnb.mac, port: 0, ifindex: n3, state: 'reachable' });
  t.like(table.hops.get(bed.gnb.ipv6), { mac: bed.gnb.mac, port: 0 });
  // The neighbours themselves are mirrored too (the gateway under its own address).
  t.like(table.hops.get(bed.dn.ipv4), { mac: bed.dn.mac, port: 1 });

  // A gNB behind a router on N3: the router's MAC, under the gNB's address; when the route goes,
  // the default route (the N6 gateway) is what the kernel would use, and so does the table.
  bed.exec(bed.upfNetns, 'ip', 'route', 'add', '10.99.0.0/24', 'via', bed.gnb.ipv4);
  hops.want('10.99.0.5');
  t.like(table.hops.get('10.99.0.5'), { mac: bed.gnb.mac, port: 0 });
  bed.exec(bed.upfNetns, 'ip', 'route', 'del', '10.99.0.0/24');
  await until('the routed gNB to follow the route change', () => table.hops.get('10.99.0.5')?.port === 1);
  t.like(table.hops.get('10.99.0.5'), { mac: bed.dn.mac, port: 1 });

  // A destination without a route is refused, not guessed.
  bed.exec(bed.upfNetns, 'ip', 'route', 'add', 'unreachable', '10.98.0.0/24');
  hops.want('10.98.0.1');
  t.false(table.hops.has('10.98.0.1'));
  t.true(hops.problems.some((p) => /no route to 10\.98\.0\.1/.test(p)), hops.problems.join('; '));

  // Releasing a gNB that is also a neighbour keeps the neighbour's own entry.
  hops.release(bed.gnb.ipv4);
  t.like(table.hops.get(bed.gnb.ipv4), { mac: bed.gnb.mac });
  t.false(hops.destinations().includes(bed.gnb.ipv4));
});
