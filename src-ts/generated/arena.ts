// Generated from the addon's arenaLayout() (crates/fastlane-node/src/batch.rs) by `npm run generate`;
// do not edit.

export const FILLED_HEAD = 0;
export const FILLED_TAIL = 1;
export const DONE_HEAD = 2;
export const NOTIFY = 4;
export const SLOTS = 5;
export const FILLED_RING = 8;
export const DONE_RING = 9;
export const SLOT_TABLE = 10;
export const SLOT_STRIDE = 11;
export const SLOT_WORDS = 4;
export const SLOT_COUNT = 0;
export const SLOT_PORT = 1;
export const SLOT_QUEUE = 2;
export const DESC_WORDS = 4;
export const DESC_OFFSET = 0;
export const DESC_LEN = 1;
export const DESC_VERDICT = 2;
export const DESC_CAPACITY = 3;
export const VERDICT_PENDING = 0;
export const VERDICT_TRANSMIT = 1;
export const VERDICT_DROP = 2;
export const VERDICT_KERNEL = 3;
export const VERDICT_TRANSMIT_ON = 65536;
