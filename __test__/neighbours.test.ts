// Needs root: the neighbour watcher on a real namespace's tables, changed with iproute2.

import test from 'ava';
import { execFileSync } from 'node:child_process';

import { NeighbourWatcher, watchNeighbours, type NeighbourEntry } from '../src-ts/neighbours';
import { Testbed } from '../src-ts/testbed';
import { uniquePrefix } from './helpers';

/** Resolves with the first change `accept` takes, or rejects after `ms`. */
function nextChange(
  watcher: NeighbourWatcher,
  accept: (entry: NeighbourEntry, removed: boolean) => boolean,
  ms = 5000,
): Promise<NeighbourEntry> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      watcher.off('change', listener);
      reject(new Error(`no matching neighbour change within ${ms} ms`));
    }, ms);
    const listener = (entry: NeighbourEntry, removed: boolean): void => {
      if (accept(entry, removed)) {
        clearTimeout(timer);
        watcher.off('change', listener);
        resolve(entry);
      }
    };
    watcher.on('change', listener);
  });
}

test.serial('the watcher reports the table, resolves on request, follows changes and looks routes up', async (t) => {
  const prefix = uniquePrefix('nb');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 207 });
  const ns = bed.fwd.netns;
  const run = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  // A static entry before the watcher starts: it must be in the first snapshot.
  run('neigh', 'add', '10.77.207.50', 'lladdr', '02:00:00:00:00:50', 'dev', bed.fwd.interface, 'nud', 'permanent');
  run('route', 'add', '198.51.100.0/24', 'via', bed.gen.address);

  const watcher = new NeighbourWatcher(ns);
  t.teardown(() => watcher.stop());
  const snapshot = await new Promise<NeighbourEntry[]>((resolve) => watcher.once('snapshot', resolve));
  const index = watcher.interfaceIndex(bed.fwd.interface);
  t.deepEqual(
    snapshot.find((e) => e.address === '10.77.207.50'),
    { index, address: '10.77.207.50', mac: '02:00:00:00:00:50', state: 0x80, usable: true },
  );
  t.is(watcher.mac(index, '10.77.207.50'), '02:00:00:00:00:50');
  t.is(watcher.mac(index, bed.gen.address), undefined, 'not resolved yet');
  t.is(watcher.hwAddress(bed.fwd.interface), bed.fwd.mac);

  // A route through a gateway: the next hop is the gateway, on the veth.
  const route = watcher.route('198.51.100.9');
  t.like(route, { destination: '198.51.100.9', index, gateway: bed.gen.address, nextHop: bed.gen.address, source: bed.fwd.address });
  // On the link: the destination is its own next hop.
  t.like(watcher.route(bed.gen.address), { index, nextHop: bed.gen.address });
  t.deepEqual(watcher.defaultRoutes(), [], 'no default route yet');
  // Set through the watcher, seen by iproute2 and by the watcher's dump alike.
  watcher.replaceDefaultRoute(bed.gen.address, index);
  t.regex(run('route', 'show', 'default'), new RegExp(`default via ${bed.gen.address} dev ${bed.fwd.interface}`));
  t.throws(() => watcher.replaceDefaultRoute('10.1.2.3', index), { message: /default route via 10\.1\.2\.3: RTM_NEWROUTE/ }, 'a gateway off the link is refused by the kernel');
  const defaults = watcher.defaultRoutes();
  t.is(defaults.length, 1);
  t.like(defaults[0], { destination: '0.0.0.0', index, gateway: bed.gen.address, nextHop: bed.gen.address });
  run('route', 'del', 'default');
  const noRoute = t.throws(() => watcher.route('2001:db8::1'));
  t.is((noRoute as Error & { code?: string }).code, 'ERR_FASTLANE_NETLINK');
  t.regex(noRoute.message, /no route to 2001:db8::1/);

  // Asking for the gateway: the kernel ARPs and the answer arrives as a change.
  const resolved = nextChange(watcher, (e, removed) => !removed && e.address === bed.gen.address && e.usable);
  watcher.resolve(route.index, route.nextHop);
  t.like(await resolved, { index, mac: bed.gen.mac, usable: true });
  t.is(watcher.mac(index, bed.gen.address), bed.gen.mac);

  // An address nobody answers for: an entry that never becomes usable.
  const silent = nextChange(watcher, (e) => e.address === '10.77.207.99');
  watcher.resolve(index, '10.77.207.99');
  t.like(await silent, { usable: false, mac: undefined });

  // A removal is reported and leaves the table.
  const removed = nextChange(watcher, (e, gone) => gone && e.address === '10.77.207.50');
  run('neigh', 'del', '10.77.207.50', 'dev', bed.fwd.interface);
  await removed;
  t.is(watcher.entry(index, '10.77.207.50'), undefined);

  // A route change is announced.
  const routes = new Promise<void>((resolve) => watcher.once('routes', resolve));
  run('route', 'del', '198.51.100.0/24');
  await routes;
  t.throws(() => watcher.interfaceIndex('no-such-if0'), { message: /interface no-such-if0/ });

  watcher.stop();
  t.throws(() => watcher.route(bed.gen.address), { message: /closed/ });
});

test('a namespace that does not exist is an error naming it', (t) => {
  const error = t.throws(() => new NeighbourWatcher(`${uniquePrefix('nx')}-missing`));
  t.is((error as Error & { code?: string }).code, 'ERR_FASTLANE_NETLINK');
  t.regex(error.message, /missing/);
});

test.serial('watchNeighbours calls back with the snapshot first, then each change', async (t) => {
  const prefix = uniquePrefix('nw');
  t.teardown(() => Testbed.down(prefix));
  const bed = Testbed.up({ prefix, subnet: 208 });
  const ns = bed.fwd.netns;
  execFileSync('ip', ['-n', ns, 'neigh', 'add', '10.77.208.60', 'lladdr', '02:00:00:00:00:60', 'dev', bed.fwd.interface, 'nud', 'permanent']);
  const seen: Array<[string, string | undefined, boolean]> = [];
  const watcher = watchNeighbours(ns, (entry, removed) => seen.push([entry.address, entry.mac ?? undefined, removed]));
  t.teardown(() => watcher.stop());
  const removed = nextChange(watcher, (e, gone) => gone && e.address === '10.77.208.60');
  await new Promise((resolve) => setTimeout(resolve, 200));
  execFileSync('ip', ['-n', ns, 'neigh', 'del', '10.77.208.60', 'dev', bed.fwd.interface]);
  await removed;
  // The snapshot's entry first; the kernel may report a state change before the removal.
  const mine = seen.filter(([a]) => a === '10.77.208.60');
  t.deepEqual(mine[0], ['10.77.208.60', '02:00:00:00:00:60', false]);
  t.is(mine.at(-1)?.[2], true, 'the removal comes last');
  t.is(mine.filter(([, , gone]) => gone).length, 1);
});
