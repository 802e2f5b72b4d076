// Runs apps/upf/test/pfcp_scapy.py once with a batch of scapy expressions to build and hex
// messages to decode (one Python start per test file).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const python = join(root, 'target', 'pyenv', 'bin', 'python');
const helper = join(__dirname, 'pfcp_scapy.py');

export interface ScapyIe {
  ietype: number;
  length: number;
  fields: Record<string, unknown>;
  ies: ScapyIe[];
}
export interface ScapyMessage {
  version: number;
  MP: number;
  S: number;
  message_type: number;
  length: number;
  seq: number;
  seid?: string;
  priority?: number;
  raw?: string;
  ies: ScapyIe[];
}

/** Throws when scripts/bootstrap has not made the venv: the cross-check must not be skipped silently. */
export function runScapy(build: string[], decode: string[]): { built: string[]; decoded: ScapyMessage[] } {
  if (!existsSync(python)) throw new Error(`${python} is missing: run scripts/bootstrap (it installs scapy in a venv)`);
  const out = execFileSync(python, [helper], { input: JSON.stringify({ build, decode }), maxBuffer: 64 << 20 });
  return JSON.parse(out.toString()) as { built: string[]; decoded: ScapyMessage[] };
}
