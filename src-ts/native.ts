// The native addon. The napi-generated loader (`index.js` at the package root) is loaded on first
// use, so importing the package (for validation of the schema alone, or for types) does not need
// the addon.

import * as path from 'node:path';

// The binding's types are the ones napi-rs generates from the Rust code (`index.d.ts`, written by
// `npm run build:native`); the names this package has always used are aliases of them.
export type {
  ConfigIssue,
  DataplaneStats,
  GeneratorOptions as TrafficGeneratorOptions,
  GeneratorStats,
  LatencyOptions,
  LatencyStats,
  NativeDataplane,
  NativeHandoffServer,
  NativeNeighbourWatcher,
  NativeSharedRegion,
  NativeShmCells,
  NativeShmChannel,
  NativeShmTable,
  NeighbourEntry,
  NeighbourEvent,
  PassThrough as NativePassThrough,
  PluginStageStats,
  PortStats,
  QueueStats,
  RouteInfo,
  ShmCellsLayout,
  ShmChannelLayout,
  ShmLayout,
  ShmTableLayout,
  StageStats,
  TrafficGenerator as NativeTrafficGenerator,
  UdpFrameOptions as UdpFrameFields,
  XdpPortStats,
} from '../index';

/** Everything the addon exports. */
export type NativeBinding = typeof import('../index');

let loaded: Partial<NativeBinding> | undefined;

/** The addon's export `name`; throws a clear error when the addon lacks it. */
export function native<K extends keyof NativeBinding>(name: K): NativeBinding[K] {
  // The loader sits at the package root, one level above both src-ts/ and dist/.
  loaded ??= require(path.join(__dirname, '..', 'index.js')) as Partial<NativeBinding>;
  const value = loaded[name];
  if (value === undefined) {
    throw new Error(`the native addon does not export ${name}: rebuild it (npm run build:native)`);
  }
  return value as NativeBinding[K];
}
