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
  /**
   * braid: a failure braid did not foresee (an invariant broken, a system call that failed in a
   * way it cannot name better); the message names what and where. Never the Go skel's 999
   * catch-all, which braid only passes on from a delegate that reports it.
   */
  Internal: 104,
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

/** errno values of a failed file or device operation: the CNI "I/O failure" (code 5). */
const IO_ERRNOS = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'EBUSY',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'ENAMETOOLONG',
  'ELOOP',
  'EXDEV',
  'ETXTBSY',
  'ENOMEM',
  'EAGAIN',
]);

function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/**
 * Wraps any thrown value as a CniError, keeping a CniError as it is. A Node errno error (its
 * message names the syscall and path) is an I/O failure (5); a stack overflow can only come from
 * input nested too deeply to decode (6); anything else is braid's own Internal code with the
 * error's type and message, never a bare 999.
 */
export function asCniError(e: unknown, fallbackCode: CniCodeValue = CniCode.Internal): CniError {
  if (e instanceof CniError) return e;
  if (isStackOverflow(e)) {
    return new CniError(CniCode.DecodeFailure, `input is nested too deeply to decode (${(e as Error).message})`);
  }
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && typeof errno === 'string' && IO_ERRNOS.has(errno)) {
    return new CniError(CniCode.IoFailure, e.message);
  }
  if (e instanceof Error) {
    const context = fallbackCode === CniCode.Internal ? `unexpected ${e.name} in braid: ` : '';
    return new CniError(fallbackCode, `${context}${e.message}`);
  }
  return new CniError(fallbackCode, `unexpected failure in braid: ${String(e)}`);
}
