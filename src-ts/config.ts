// The config document's types, under the names the package has always exported. They are
// generated (src-ts/generated/config.ts, from config/fastlane.schema.json, itself generated from
// the Rust types in crates/fastlane-core/src/config.rs): change the Rust types, then run
// `npm run generate`. Keys keep the file's snake_case so a typed object is written to disk
// unchanged.

import type {
  AfXdpConfig,
  FastlaneDataPlaneConfig,
  ProcessorObject,
  ThreadsConfig,
} from './generated/config';

export type {
  AfPacketConfig,
  AfXdpConfig,
  BusyPollConfig,
  DpdkConfig,
  FilterConfig,
  PortConfig,
  PortMatch,
  ProcessorSpec,
  QueueConfig,
  SimpleProcessor,
  TapConfig,
  ThreadsConfig,
} from './generated/config';

export type FastlaneConfig = FastlaneDataPlaneConfig;
/** The packet I/O mechanism. */
export type Backend = FastlaneConfig['backend'];
export type BindMode = NonNullable<AfXdpConfig['bind_mode']>;
export type AttachMode = NonNullable<AfXdpConfig['attach_mode']>;
export type ThreadModel = NonNullable<ThreadsConfig['model']>;
/** Forwards each port's packets out of its peer, both ways; ports are indexes into `ports`. */
export type L2fwdProcessor = Extract<ProcessorObject, { type: 'l2fwd' }>;
/** A processor compiled as a Rust plugin (`fastlane new-plugin`). */
export type PluginProcessor = Extract<ProcessorObject, { type: 'plugin' }>;
