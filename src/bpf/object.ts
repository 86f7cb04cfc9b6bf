import { CniCode, CniError } from '../base/errors.ts';
import { SyscallError } from '../net/errno.ts';
import { addressOf, errnoFromResult, libbpf, type Ptr } from './libbpf.ts';
import { ensurePinDir } from './pins.ts';

export interface OpenOptions {
  /** Maps declared with LIBBPF_PIN_BY_NAME are pinned (or reused) under this bpffs directory. */
  pinRoot?: string;
  /** Size of the buffer that receives the verifier log when loading fails. */
  logSize?: number;
}

/** Lines of verifier log quoted in the error message; the whole log is in `verifierLog`. */
const LOG_TAIL_LINES = 25;

export class BpfLoadError extends SyscallError {
  constructor(
    operation: string,
    errno: number,
    readonly verifierLog: string,
  ) {
    const tail = verifierLog.trim().split('\n').slice(-LOG_TAIL_LINES).join('\n');
    super(operation, errno, tail ? `verifier log (tail):\n${tail}` : 'no verifier log');
  }
}

/**
 * A BPF ELF object opened with libbpf. Lifecycle: open → (configure) → load → use fds → close.
 * Closing the object closes its fds; pinned maps, programs and links live on.
 */
export class BpfObject {
  private readonly log: Buffer;
  private closed = false;
  // Kept referenced while libbpf may read them (open opts point at these buffers).
  private readonly keep: Buffer[];

  private constructor(
    private readonly handle: Ptr,
    readonly path: string,
    log: Buffer,
    keep: Buffer[],
  ) {
    this.log = log;
    this.keep = keep;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const lib = libbpf();
    if (opts.pinRoot) ensurePinDir(opts.pinRoot);
    const log = Buffer.alloc(opts.logSize ?? 1 << 20);
    const pinRoot = opts.pinRoot ? Buffer.from(`${opts.pinRoot}\0`) : undefined;
    // struct bpf_object_open_opts (libbpf 1.1, x86_64/arm64 layout): sz 0, object_name 8,
    // relaxed_maps 16, pin_root_path 24, kconfig 40, btf_custom_path 48, kernel_log_buf 56,
    // kernel_log_size 64, kernel_log_level 72; sizeof 80.
    const o = Buffer.alloc(80);
    o.writeBigUInt64LE(80n, 0);
    o.writeBigUInt64LE(addressOf(pinRoot), 24);
    o.writeBigUInt64LE(addressOf(log), 56);
    o.writeBigUInt64LE(BigInt(log.length), 64);
    const handle = lib.bpf_object__open_file(path, o);
    if (lib.isNull(handle)) throw new SyscallError(`open BPF object ${path}`, lib.errno());
    return new BpfObject(handle, path, log, pinRoot ? [o, pinRoot] : [o]);
  }

  /** Creates (or reuses pinned) maps and loads every program; a verifier failure throws BpfLoadError. */
  load(): void {
    this.log.fill(0, 0, 1);
    const rc = libbpf().bpf_object__load(this.handle);
    if (rc < 0) {
      const end = this.log.indexOf(0);
      const text = this.log.subarray(0, end < 0 ? this.log.length : end).toString('utf8');
      throw new BpfLoadError(`load BPF object ${this.path}`, errnoFromResult(rc), text);
    }
  }

  programNames(): string[] {
    const lib = libbpf();
    const out: string[] = [];
    for (let p = lib.bpf_object__next_program(this.handle, null); !lib.isNull(p); ) {
      out.push(lib.bpf_program__name(p));
      p = lib.bpf_object__next_program(this.handle, p);
    }
    return out;
  }

  mapNames(): string[] {
    const lib = libbpf();
    const out: string[] = [];
    for (let m = lib.bpf_object__next_map(this.handle, null); !lib.isNull(m); ) {
      out.push(lib.bpf_map__name(m));
      m = lib.bpf_object__next_map(this.handle, m);
    }
    return out;
  }

  private program(name: string): Ptr {
    const p = libbpf().bpf_object__find_program_by_name(this.handle, name);
    if (libbpf().isNull(p)) throw missing('program', name, this.path);
    return p;
  }

  private map(name: string): Ptr {
    const m = libbpf().bpf_object__find_map_by_name(this.handle, name);
    if (libbpf().isNull(m)) throw missing('map', name, this.path);
    return m;
  }

  /** Leaves a program out of load(); must be called before load(). */
  setAutoload(program: string, autoload: boolean): void {
    libbpf().bpf_program__set_autoload(this.program(program), autoload);
  }

  /** The program's fd (owned by the object: valid until close()). */
  programFd(name: string): number {
    const fd = libbpf().bpf_program__fd(this.program(name));
    if (fd < 0) throw new SyscallError(`fd of program ${name} in ${this.path} (not loaded?)`, errnoFromResult(fd));
    return fd;
  }

  /** The map's fd (owned by the object: valid until close()). */
  mapFd(name: string): number {
    const fd = libbpf().bpf_map__fd(this.map(name));
    if (fd < 0) throw new SyscallError(`fd of map ${name} in ${this.path} (not loaded?)`, errnoFromResult(fd));
    return fd;
  }

  mapPinPath(name: string): string | undefined {
    return libbpf().bpf_map__pin_path(this.map(name)) ?? undefined;
  }

  pinProgram(name: string, path: string): void {
    ensurePinDir(path.slice(0, path.lastIndexOf('/')));
    const rc = libbpf().bpf_program__pin(this.program(name), path);
    if (rc < 0) throw new SyscallError(`pin program ${name} at ${path}`, errnoFromResult(rc));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libbpf().bpf_object__close(this.handle);
    this.keep.length = 0;
  }
}

function missing(kind: string, name: string, path: string): CniError {
  return new CniError(CniCode.Internal, `BPF object ${path} has no ${kind} named "${name}"`);
}
