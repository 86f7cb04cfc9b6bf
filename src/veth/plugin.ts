import type { PluginHandlers } from '../cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../cni/versions.ts';

/**
 * The braid-veth CNI plugin: one veth pair per pod, host routing, eBPF on the host side. Each
 * verb's module (and with it koffi and libbpf) is imported on first use, so VERSION and a
 * failing parse stay cheap.
 */
export const vethHandlers: PluginHandlers = {
  supportedVersions: BRAID_SUPPORTED_VERSIONS,
  add: async (req) => (await import('./add.ts')).vethAdd(req),
  del: async (req) => (await import('./del.ts')).vethDel(req),
  check: async (req) => (await import('./check.ts')).vethCheck(req),
  status: async (req) => (await import('./status.ts')).vethStatus(req),
  gc: async (req) => (await import('./gc.ts')).vethGc(req),
};
