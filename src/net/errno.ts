import { constants } from 'node:os';
import { CniCode, CniError } from '../base/errors.ts';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // EWOULDBLOCK/EAGAIN and EDEADLOCK/EDEADLK share numbers: keep the first (common) name.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** "EPERM" for 1; "errno 4242" for numbers the platform does not name. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `errno ${Math.abs(errno)}`;
}

export function errnoOf(name: keyof typeof constants.errno): number {
  return constants.errno[name];
}

/**
 * A failed system call, netlink request or libbpf call. The message says what was being done and
 * ends with the errno name: "attach tcx ingress on brv1a2b3c in netns /run/netns/x: EPERM".
 * `detail` carries extra text from the kernel (netlink extended ack, verifier log).
 */
export class SyscallError extends CniError {
  readonly errno: number;
  readonly operation: string;

  constructor(operation: string, errno: number, detail?: string) {
    const code = Math.abs(errno);
    super(CniCode.Internal, `${operation}: ${errnoName(code)}${detail ? ` (${detail})` : ''}`);
    this.name = 'SyscallError';
    this.errno = code;
    this.operation = operation;
  }
}

export function isErrno(e: unknown, name: keyof typeof constants.errno): boolean {
  return e instanceof SyscallError && e.errno === constants.errno[name];
}
