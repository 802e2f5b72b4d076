// PFCP (3GPP TS 29.244) codec: the N4 foundation of the UPF's control plane.
export { PfcpCause, PfcpDecodeError, type PfcpDecodeReason } from './errors';
export { IeType, MessageType, ieName, isEnterpriseIeType, isGroupedIeType, messageName } from './types';
export {
  OuterHeader,
  type DownlinkDataServiceInformation,
  type FailedRuleId,
  type Flags,
  type FSeid,
  type FTeid,
  type IeValues,
  type NetworkInstance,
  type NodeId,
  type OuterHeaderCreation,
  type OuterHeaderRemoval,
  type RuleKind,
  type SdfFilter,
  type TypedIeType,
  type UeIpAddress,
  type UserPlaneIpResourceInformation,
  type Volumes,
} from './values';
export {
  findAll,
  findIe,
  getAllValues,
  getGroups,
  getValue,
  group,
  ie,
  encodeIeList,
  type EnterpriseIe,
  type GroupedIe,
  type Ie,
  type RawIe,
  type ValueIe,
} from './ie';
export { decodeDatagram, decodeMessage, defaultDecodeOptions, encodeMessage, type DecodeOptions, type PfcpMessage } from './message';
