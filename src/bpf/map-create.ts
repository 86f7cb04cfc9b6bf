import koffi from 'koffi';
import { SyscallError } from '../net/errno.ts';
import { errnoFromResult } from './libbpf.ts';

/**
 * Maps made at run time rather than from an object file: inner maps of map-in-map outers
 * (one LPM trie per interface and direction), and fds for inner maps an outer map names by id.
 */
export const BPF_MAP_TYPE_LPM_TRIE = 11;
export const BPF_F_NO_PREALLOC = 1;

interface MapCreateLib {
  bpf_map_create(
    type: number,
    name: string | null,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: Buffer,
  ): number;
  bpf_map_get_fd_by_id(id: number): number;
}

let cached: MapCreateLib | undefined;

function lib(): MapCreateLib {
  if (cached) return cached;
  const so = koffi.load('libbpf.so.1');
  cached = {
    bpf_map_create: so.func(
      'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const void *opts)',
    ) as never,
    bpf_map_get_fd_by_id: so.func('int bpf_map_get_fd_by_id(uint32_t id)') as never,
  };
  return cached;
}

export interface MapSpec {
  type: number;
  /** Up to 15 characters, shown by bpftool. */
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
}

/** Creates a map and returns its fd (the caller closes it; an outer map keeps the map alive). */
export function createMap(spec: MapSpec): number {
  // struct bpf_map_create_opts (libbpf 1.1): sz 0, btf_fd 8, btf_key_type_id 12, btf_value_type_id 16,
  // btf_vmlinux_value_type_id 20, inner_map_fd 24, map_flags 28, map_extra 32, numa_node 40, map_ifindex 44.
  const o = Buffer.alloc(48);
  o.writeBigUInt64LE(48n, 0);
  o.writeUInt32LE(spec.flags ?? 0, 28);
  const fd = lib().bpf_map_create(spec.type, spec.name.slice(0, 15), spec.keySize, spec.valueSize, spec.maxEntries, o);
  if (fd < 0) throw new SyscallError(`create map ${spec.name}`, errnoFromResult(fd));
  return fd;
}

/** An fd for the map with this id (e.g. the inner map an outer map lookup returned); caller closes. */
export function mapFdById(id: number): number {
  const fd = lib().bpf_map_get_fd_by_id(id);
  if (fd < 0) throw new SyscallError(`open map id ${id}`, errnoFromResult(fd));
  return fd;
}
