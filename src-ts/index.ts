// fastlane-dataplane: the public API.

export type * from './config';
export { ConfigBuilder } from './builder';
export { PacketBatch, Verdict, type BatchHandler, type OnBatchOptions } from './batch';
export { Dataplane, type DataplaneEvents, type DataplaneOptions } from './dataplane';
export {
  createMetricsRegistry,
  parseListenAddress,
  serveMetrics,
  type MetricsOptions,
  type MetricsServer,
  type MetricsSource,
} from './metrics';
export { NeighbourWatcher, watchNeighbours, type NeighbourEntry, type NeighbourWatcherEvents, type RouteInfo } from './neighbours';
export type { DataplaneStats, PortStats, QueueStats, StageStats, XdpPortStats } from './native';
export {
  SharedCells,
  SharedChannel,
  SharedRegion,
  SharedTable,
  type SharedChannelOptions,
  type SharedRegionCreateOptions,
  type ShmCellsLayout,
  type ShmChannelLayout,
  type ShmLayout,
  type ShmTableLayout,
} from './shm';
export { Testbed, testbedNames, type TestbedEnd, type TestbedOptions } from './testbed';
export {
  TrafficGenerator,
  attachPassThrough,
  exchangeFrames,
  measureLatency,
  udpFrame,
  type GeneratorStats,
  type LatencyOptions,
  type LatencyStats,
  type TrafficGeneratorOptions,
  type UdpFrameFields,
} from './traffic';
export {
  ConfigError,
  SCHEMA_PATH,
  assertValidConfig,
  loadConfigFile,
  parseConfig,
  schemaIssues,
  validateConfig,
  type ConfigIssue,
} from './validate';
