// Shared by the tests: the repository's paths and a fresh, valid config to break.

import * as path from 'node:path';

import type { FastlaneConfig } from '../src-ts/config';

export const ROOT = path.join(__dirname, '..');
export const EXAMPLES = path.join(ROOT, 'config', 'examples');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** A valid config; each call returns a new object. */
export function macswapConfig(): FastlaneConfig {
  return {
    backend: 'af_xdp',
    ports: [{ interface: 'fl-f0', queues: [{ id: 0, core: 0 }] }],
    filter: { udp_ports: [9000, { from: 9100, to: 9199 }] },
    pipeline: ['count', 'macswap'],
  };
}

/** A prefix no other test process uses at the same time: ava runs each file in its own process. */
export function uniquePrefix(tag: string): string {
  return `flts${tag}${process.pid % 10000}`;
}
