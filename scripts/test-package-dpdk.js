// scripts/test-package's DPDK check, run from an app directory that has fastlane-dataplane
// installed: starts a DPDK data plane on DPDK's null device (no NIC, no hugepages), prints the
// path the DPDK shim was loaded from (so the test can tell the platform package's copy from the
// build tree's), and stops it. Exits 1 with the error if DPDK does not start.
'use strict';

const fs = require('node:fs');
const { createRequire } = require('node:module');
const { Dataplane } = createRequire(`${process.cwd()}/`)('fastlane-dataplane');

const config = {
  name: 'package-dpdk-check',
  backend: 'dpdk',
  ports: [{ interface: 'null0', queues: [{ id: 0, core: 0 }] }],
  filter: { udp_ports: [9000] },
  pipeline: ['macswap'],
  dpdk: { devices: { null0: 'net_null0' }, huge_pages: false, memory_mb: 64, mbufs: 1024 },
};

const dataplane = new Dataplane(config);
try {
  dataplane.start();
} catch (e) {
  console.error(`dpdk ${process.arch}: ${e.message}`);
  process.exit(1);
}
const shim = fs
  .readFileSync('/proc/self/maps', 'utf8')
  .split('\n')
  .map((line) => line.split(/\s+/)[5])
  .find((file) => file !== undefined && file.endsWith('/libfastlane_dpdk.so'));
console.log(`dpdk ${process.arch}: started on net_null0; shim ${shim}`);
dataplane.stop();
