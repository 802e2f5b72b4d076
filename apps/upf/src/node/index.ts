// The UPF's PFCP node: what `fastlane upf run` starts and `fastlane upf sessions` reads.
export { startPfcpNode, UP_FUNCTION_FEATURES, type PfcpNode, type PfcpNodeOptions } from './node';
export { pfcpStateLayout, type StateRegion, type StateTable } from './store';
export { jsonLogger, type Logger, type LogLevel } from './log';
export { createPfcpMetrics, type PfcpMetrics } from './metrics';
export { parseIpFilterRule, IpFilterRuleError } from './ipfilter';
export type { UePoolConfig } from './allocators';
export { fetchSessions, formatSessions, sessionsCommand, type SessionListing, type SessionListingJson } from './sessions-command';
