// Decoding untrusted PFCP bytes fails only with PfcpDecodeError; its reason tells the node which
// answer TS 29.244 clause 7.6 asks for.

/** Why a PFCP message could not be decoded. */
export type PfcpDecodeReason =
  /** Fewer bytes than the header needs (S flag decides 8 or 16). */
  | 'truncated-header'
  /** The header's length field disagrees with the datagram, or with the S flag. */
  | 'invalid-message-length'
  /** Version is not 1: answered with a Version Not Supported Response. */
  | 'unsupported-version'
  /** The message exceeds the configured maximum. */
  | 'message-too-large'
  /** An IE's header or body runs past the end of its parent (message or grouped IE). */
  | 'ie-length-past-parent'
  /** A grouped IE's body is not a sequence of whole IEs. */
  | 'bad-grouped-nesting'
  /** Grouped IEs nest deeper than the configured maximum. */
  | 'nesting-too-deep'
  /** A known IE's body is too short or inconsistent with its flags. */
  | 'ie-body-invalid';

/** Cause values (TS 29.244 Table 8.2.1-1) a node may answer with. */
export const PfcpCause = {
  RequestAccepted: 1,
  RequestRejected: 64,
  SessionContextNotFound: 65,
  MandatoryIeMissing: 66,
  ConditionalIeMissing: 67,
  InvalidLength: 68,
  MandatoryIeIncorrect: 69,
  InvalidForwardingPolicy: 70,
  InvalidFteidAllocationOption: 71,
  NoEstablishedPfcpAssociation: 72,
  RuleCreationModificationFailure: 73,
  PfcpEntityInCongestion: 74,
  NoResourcesAvailable: 75,
  ServiceNotSupported: 76,
  SystemFailure: 77,
} as const;

const causeByReason: Record<PfcpDecodeReason, number | undefined> = {
  'truncated-header': undefined, // no sequence number to answer to: dropped
  'invalid-message-length': PfcpCause.InvalidLength,
  'unsupported-version': undefined, // Version Not Supported Response, not a cause
  'message-too-large': PfcpCause.InvalidLength,
  'ie-length-past-parent': PfcpCause.MandatoryIeIncorrect,
  'bad-grouped-nesting': PfcpCause.MandatoryIeIncorrect,
  'nesting-too-deep': PfcpCause.MandatoryIeIncorrect,
  'ie-body-invalid': PfcpCause.MandatoryIeIncorrect,
};

export class PfcpDecodeError extends Error {
  override readonly name = 'PfcpDecodeError';
  /** The cause a response should carry, or undefined when the message is dropped (or answered
   * with Version Not Supported). Whether the IE was mandatory is the node's call. */
  readonly causeValue: number | undefined;

  constructor(
    readonly reason: PfcpDecodeReason,
    /** Byte offset from the start of the message where the fault is. */
    readonly offset: number,
    detail: string,
    /** The IE at fault (its type and TS 29.244 name), absent for header faults. */
    readonly ie?: { type: number; name: string },
  ) {
    super(`PFCP decode: ${reason} at offset ${offset}${ie ? ` in IE ${ie.type} (${ie.name})` : ''}: ${detail}`);
    this.causeValue = causeByReason[reason];
  }
}
