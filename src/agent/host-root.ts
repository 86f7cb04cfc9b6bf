import { accessSync, constants, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HostRoot } from '../cni/exec.ts';
import { ownDir } from '../base/own-dir.ts';
import { withRequests, type PluginHandlers } from '../cni/skel.ts';

/**
 * braid-agent --host-root: the agent runs in a container, but delegates must run as the runtime
 * would have run them on the host (the host's /opt/cni/bin, /var/lib/cni, and the binaries plugins
 * call, iptables for one). As Multus' thick plugin does, each one runs chrooted into the host's
 * root, mounted in the container; braid-chroot does the chroot and exec, with the runtime's
 * environment the call came with.
 */
export function resolveHostRoot(root: string | undefined, helper: string | undefined): HostRoot | undefined {
  if (root === undefined) return undefined;
  const dir = resolve(root);
  const program = resolve(helper ?? join(ownDir(), 'braid-chroot'));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new Error(`--host-root ${dir} is not a directory (mount the host's / there)`);
  try {
    accessSync(program, constants.X_OK);
  } catch {
    throw new Error(
      `--host-root needs the chroot helper, and ${program} is not an executable file (see --chroot-helper)`,
    );
  }
  return { root: dir, helper: program };
}

/** The same verbs, with every call's delegates found and run in the host root (when there is one). */
export function handlersInHostRoot(handlers: PluginHandlers, hostRoot: HostRoot | undefined): PluginHandlers {
  if (!hostRoot) return handlers;
  return withRequests(handlers, (req) => ({ ...req, hostRoot }));
}
