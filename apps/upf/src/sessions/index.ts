// The UPF's sessions in shared memory: UpfSessions over the tables of fastlane-upf-rules, the
// next-hop table, and the region they live in.

export { DEFAULT_CAPACITIES, capacities, createUpfRegion, openUpfRegion, upfLayout, type UpfCapacities } from './region';
export { ShmUpfSessions, type ShmUpfSessionsOptions } from './shm-sessions';
export { UpfNextHops, type NextHop } from './next-hops';
export * from './types';
