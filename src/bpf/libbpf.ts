import koffi from 'koffi';

/**
 * libbpf 1.1 (libbpf.so.1) through koffi. Option structs are passed as plain Buffers laid out
 * by the callers (see opts.ts): their pointer fields hold Buffer addresses, which stay valid
 * because Node never moves a Buffer's memory. libbpf 1.x returns -errno (or NULL + errno).
 */
export type Ptr = unknown;

export interface Libbpf {
  bpf_object__open_file(path: string, opts: Buffer | null): Ptr;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__next_program(obj: Ptr, prev: Ptr): Ptr;
  bpf_object__next_map(obj: Ptr, prev: Ptr): Ptr;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr;
  bpf_program__name(prog: Ptr): string;
  bpf_program__fd(prog: Ptr): number;
  bpf_program__pin(prog: Ptr, path: string): number;
  bpf_program__set_autoload(prog: Ptr, autoload: boolean): number;
  bpf_map__name(map: Ptr): string;
  bpf_map__fd(map: Ptr): number;
  bpf_map__set_pin_path(map: Ptr, path: string | null): number;
  bpf_map__pin_path(map: Ptr): string | null;
  bpf_obj_pin(fd: number, path: string): number;
  bpf_obj_get(path: string): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  bpf_map_lookup_elem(fd: number, key: Buffer, value: Buffer): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_map_get_next_key(fd: number, key: Buffer | null, next: Buffer): number;
  bpf_link_create(progFd: number, targetFd: number, attachType: number, opts: Buffer | null): number;
  bpf_link_detach(linkFd: number): number;
  bpf_prog_attach_opts(progFd: number, target: number, type: number, opts: Buffer | null): number;
  bpf_prog_detach2(progFd: number, target: number, type: number): number;
  bpf_prog_query_opts(target: number, type: number, opts: Buffer): number;
  bpf_prog_get_fd_by_id(id: number): number;
  bpf_obj_get_info_by_fd(fd: number, info: Buffer, len: Buffer): number;
  bpf_tc_hook_create(hook: Buffer): number;
  bpf_tc_attach(hook: Buffer, opts: Buffer): number;
  bpf_tc_detach(hook: Buffer, opts: Buffer): number;
  bpf_tc_query(hook: Buffer, opts: Buffer): number;
  bpf_prog_test_run_opts(progFd: number, opts: Buffer): number;
  libbpf_num_possible_cpus(): number;
  close(fd: number): number;
  isNull(p: Ptr): boolean;
  errno(): number;
}

let cached: Libbpf | undefined;

export function libbpf(): Libbpf {
  if (cached) return cached;
  const lib = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  const obj = koffi.pointer(koffi.opaque('bpf_object'));
  const prog = koffi.pointer(koffi.opaque('bpf_program'));
  const map = koffi.pointer(koffi.opaque('bpf_map'));
  const f = <T>(ret: unknown, name: string, args: unknown[]) =>
    lib.func(name, ret as koffi.TypeSpec, args as koffi.TypeSpec[]) as unknown as T;
  const s = (decl: string) => lib.func(decl) as never;
  cached = {
    bpf_object__open_file: f(obj, 'bpf_object__open_file', ['const char *', 'void *']),
    bpf_object__load: f('int', 'bpf_object__load', [obj]),
    bpf_object__close: f('void', 'bpf_object__close', [obj]),
    bpf_object__next_program: f(prog, 'bpf_object__next_program', [obj, prog]),
    bpf_object__next_map: f(map, 'bpf_object__next_map', [obj, map]),
    bpf_object__find_program_by_name: f(prog, 'bpf_object__find_program_by_name', [obj, 'const char *']),
    bpf_object__find_map_by_name: f(map, 'bpf_object__find_map_by_name', [obj, 'const char *']),
    bpf_program__name: f('const char *', 'bpf_program__name', [prog]),
    bpf_program__fd: f('int', 'bpf_program__fd', [prog]),
    bpf_program__pin: f('int', 'bpf_program__pin', [prog, 'const char *']),
    bpf_program__set_autoload: f('int', 'bpf_program__set_autoload', [prog, 'bool']),
    bpf_map__name: f('const char *', 'bpf_map__name', [map]),
    bpf_map__fd: f('int', 'bpf_map__fd', [map]),
    bpf_map__set_pin_path: f('int', 'bpf_map__set_pin_path', [map, 'const char *']),
    bpf_map__pin_path: f('const char *', 'bpf_map__pin_path', [map]),
    bpf_obj_pin: s('int bpf_obj_pin(int fd, const char *path)'),
    bpf_obj_get: s('int bpf_obj_get(const char *path)'),
    bpf_map_update_elem: s('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    bpf_map_lookup_elem: s('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    bpf_map_delete_elem: s('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: s('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
    bpf_link_create: s('int bpf_link_create(int prog_fd, int target_fd, int type, const void *opts)'),
    bpf_link_detach: s('int bpf_link_detach(int link_fd)'),
    bpf_prog_attach_opts: s('int bpf_prog_attach_opts(int prog_fd, int target, int type, const void *opts)'),
    bpf_prog_detach2: s('int bpf_prog_detach2(int prog_fd, int target, int type)'),
    bpf_prog_query_opts: s('int bpf_prog_query_opts(int target, int type, void *opts)'),
    bpf_prog_get_fd_by_id: s('int bpf_prog_get_fd_by_id(uint32_t id)'),
    bpf_obj_get_info_by_fd: s('int bpf_obj_get_info_by_fd(int fd, void *info, void *len)'),
    bpf_tc_hook_create: s('int bpf_tc_hook_create(void *hook)'),
    bpf_tc_attach: s('int bpf_tc_attach(const void *hook, void *opts)'),
    bpf_tc_detach: s('int bpf_tc_detach(const void *hook, const void *opts)'),
    bpf_tc_query: s('int bpf_tc_query(const void *hook, void *opts)'),
    bpf_prog_test_run_opts: s('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
    libbpf_num_possible_cpus: s('int libbpf_num_possible_cpus(void)'),
    close: libc.func('int close(int fd)') as never,
    isNull: (p) => p === null || p === undefined,
    errno: () => koffi.errno(),
  };
  return cached;
}

/** Address of a Buffer for a pointer field of an option struct (0 for none). */
export function addressOf(buf: Buffer | undefined | null): bigint {
  return buf ? BigInt(koffi.address(buf)) : 0n;
}

/** libbpf 1.x convention: negative return = -errno; else the value. */
export function errnoFromResult(rc: number): number {
  return rc < 0 ? -rc : 0;
}

let printSilenced = false;

/**
 * Stops libbpf's own messages on stderr (e.g. "Kernel error message: ..." on every tc query
 * miss). Errors are still reported through return codes and the verifier log buffer.
 */
export function silenceLibbpf(): void {
  if (printSilenced) return;
  const lib = koffi.load('libbpf.so.1');
  lib.func('void *libbpf_set_print(void *fn)')(null);
  printSilenced = true;
}
