// Why a request is answered with a cause other than Request accepted: the cause (TS 29.244 Table
// 8.2.1-1) and what the response names with it (Offending IE, Failed Rule ID).
import type { RuleKind } from '../pfcp/index';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly causeValue: number,
    message: string,
    /** The IE type at fault: Offending IE in the response. */
    readonly offendingIe?: number,
    /** The rule that could not be created or modified (cause 73): Failed Rule ID. */
    readonly failedRule?: { kind: RuleKind; ruleId: number },
  ) {
    super(message);
  }
}
