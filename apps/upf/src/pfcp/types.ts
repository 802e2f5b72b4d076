// IE and message type numbers: TS 29.244 Table 8.1.2-1 and Table 7.3-1 (checked against scapy's
// scapy/contrib/pfcp.py). Only the IEs a UPF handles are named; any other type decodes as raw.

export const IeType = {
  CreatePdr: 1,
  Pdi: 2,
  CreateFar: 3,
  ForwardingParameters: 4,
  DuplicatingParameters: 5,
  CreateUrr: 6,
  CreateQer: 7,
  CreatedPdr: 8,
  UpdatePdr: 9,
  UpdateFar: 10,
  UpdateForwardingParameters: 11,
  UpdateBarSessionReportResponse: 12,
  UpdateUrr: 13,
  UpdateQer: 14,
  RemovePdr: 15,
  RemoveFar: 16,
  RemoveUrr: 17,
  RemoveQer: 18,
  Cause: 19,
  SourceInterface: 20,
  FTeid: 21,
  NetworkInstance: 22,
  SdfFilter: 23,
  GateStatus: 25,
  Mbr: 26,
  Gbr: 27,
  Precedence: 29,
  VolumeThreshold: 31,
  TimeThreshold: 32,
  ReportingTriggers: 37,
  ReportType: 39,
  OffendingIe: 40,
  DestinationInterface: 42,
  UpFunctionFeatures: 43,
  ApplyAction: 44,
  DownlinkDataServiceInformation: 45,
  DownlinkDataNotificationDelay: 46,
  PfcpSmReqFlags: 49,
  LoadControlInformation: 51,
  SequenceNumber: 52,
  OverloadControlInformation: 54,
  PdrId: 56,
  FSeid: 57,
  NodeId: 60,
  MeasurementMethod: 62,
  UsageReportTrigger: 63,
  MeasurementPeriod: 64,
  VolumeMeasurement: 66,
  DurationMeasurement: 67,
  ApplicationDetectionInformation: 68,
  VolumeQuota: 73,
  StartTime: 75,
  EndTime: 76,
  QueryUrr: 77,
  UsageReportSessionModificationResponse: 78,
  UsageReportSessionDeletionResponse: 79,
  UsageReportSessionReportRequest: 80,
  UrrId: 81,
  DownlinkDataReport: 83,
  OuterHeaderCreation: 84,
  CreateBar: 85,
  UpdateBarSessionModificationRequest: 86,
  RemoveBar: 87,
  BarId: 88,
  CpFunctionFeatures: 89,
  UeIpAddress: 93,
  OuterHeaderRemoval: 95,
  RecoveryTimeStamp: 96,
  ErrorIndicationReport: 99,
  NodeReportType: 101,
  UserPlanePathFailureReport: 102,
  UrSeqn: 104,
  UpdateDuplicatingParameters: 105,
  FarId: 108,
  QerId: 109,
  PfcpAssociationReleaseRequest: 111,
  GracefulReleasePeriod: 112,
  FailedRuleId: 114,
  UserPlaneIpResourceInformation: 116,
  QFI: 124,
  SuggestedBufferingPacketsCount: 140,
} as const;

/** Grouped IEs of Table 8.1.2-1 (their body is a list of IEs). */
const groupedTypes: ReadonlySet<number> = new Set([
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 51, 54, 58, 59, 68, 77, 78, 79, 80, 83,
  85, 86, 87, 99, 102, 105, 118, 127, 128, 129, 130, 132, 143, 147,
]);

export function isGroupedIeType(type: number): boolean {
  return groupedTypes.has(type);
}

/** Types with the top bit set carry an Enterprise ID (TS 29.244 clause 8.1.1). */
export function isEnterpriseIeType(type: number): boolean {
  return type >= 0x8000;
}

const ieNames = new Map<number, string>(Object.entries(IeType).map(([name, type]) => [type, name]));

export function ieName(type: number): string {
  if (isEnterpriseIeType(type)) return 'EnterpriseSpecific';
  return ieNames.get(type) ?? 'Unknown';
}

export const MessageType = {
  HeartbeatRequest: 1,
  HeartbeatResponse: 2,
  AssociationSetupRequest: 5,
  AssociationSetupResponse: 6,
  AssociationUpdateRequest: 7,
  AssociationUpdateResponse: 8,
  AssociationReleaseRequest: 9,
  AssociationReleaseResponse: 10,
  VersionNotSupportedResponse: 11,
  NodeReportRequest: 12,
  NodeReportResponse: 13,
  SessionEstablishmentRequest: 50,
  SessionEstablishmentResponse: 51,
  SessionModificationRequest: 52,
  SessionModificationResponse: 53,
  SessionDeletionRequest: 54,
  SessionDeletionResponse: 55,
  SessionReportRequest: 56,
  SessionReportResponse: 57,
} as const;

const messageNames = new Map<number, string>(Object.entries(MessageType).map(([name, type]) => [type, name]));

/** The message's TS 29.244 name, or undefined for a type this codec does not know (kept raw). */
export function messageName(type: number): string | undefined {
  return messageNames.get(type);
}
