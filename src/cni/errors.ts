/**
 * CNI error codes reserved by the specification (SPEC.md section "Error"), plus the two
 * non-spec codes the reference Go library emits and braid's own codes (100 and up).
 */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  /** braid: a delegate ran past its time limit and was killed. */
  DelegateTimeout: 100,
  /** braid: the delegate's output was not a CNI result or error. */
  DelegateBadOutput: 101,
  /** braid: ADD for a container/ifname that braid already set up. */
  AlreadyAttached: 102,
  /** braid: one or more delegates failed during DEL or GC; the rest were still processed. */
  PartialCleanup: 103,
  /** Go skel's catch-all; kept for delegates that report it and for braid's unexpected failures. */
  Internal: 999,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode] | number;

/** An error that is printed as CNI error JSON on stdout. */
export class CniError extends Error {
  constructor(
    readonly code: CniCodeValue,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = { cniVersion, code: this.code, msg: this.message };
    if (this.details) out.details = this.details;
    return out;
  }
}

export function isCniError(e: unknown): e is CniError {
  return e instanceof CniError;
}

/** Wraps any thrown value as a CniError, keeping a CniError as it is. */
export function asCniError(e: unknown, fallbackCode: CniCodeValue = CniCode.Internal): CniError {
  if (e instanceof CniError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new CniError(fallbackCode, message);
}
