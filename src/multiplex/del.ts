import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import { quarantineCache, readCache, removeCache, writeCache, type CachedAttachment } from './cache.ts';
import { containerTarget, delegatePath } from './delegate-context.ts';
import { combinedError, teardown } from './teardown.ts';

/**
 * The attachments of a container whose cache is missing or unreadable: what Multus left for it,
 * else recomputed from the API or local sources (takeover.ts). Undefined when that is not possible.
 */
export type Recompute = () => Promise<CachedAttachment[] | undefined>;

function warn(message: string): void {
  process.stderr.write(`braid: ${message}\n`);
}

/**
 * DEL from the cache: every attachment in reverse, past failures, netns present or not. The
 * record is removed when all DELs succeeded; with `retryDeleteOnError` (braid's default) the
 * failed attachments stay recorded so that the runtime's retry does exactly those.
 */
export async function executeDel(req: CniRequest, conf: BraidConf, recompute: Recompute): Promise<void> {
  const read = readCache(conf.cniDir, req.containerId, req.ifname);
  let attachments: CachedAttachment[] | undefined;
  let cniPath = delegatePath(conf, req.path);
  if (read.status === 'ok') {
    attachments = read.record.attachments;
    cniPath = delegatePath(conf, [...req.path, ...read.record.cniPath]);
  } else {
    if (read.status === 'corrupt') {
      const kept = quarantineCache(read.file);
      warn(`cache of container ${req.containerId} is unreadable (${read.reason}); kept as ${kept}`);
    }
    attachments = await recompute().catch((e: unknown) => {
      warn(`cannot recompute the attachments of container ${req.containerId}: ${(e as Error).message}`);
      return undefined;
    });
    if (!attachments) {
      warn(`no cache for container ${req.containerId} (${req.ifname}) and nothing to recompute it from: nothing to delete`);
      return;
    }
  }

  const { failed, errors } = await teardown(conf, containerTarget(req, cniPath), attachments);
  if (failed.length === 0 || !conf.retryDeleteOnError || read.status !== 'ok') {
    removeCache(conf.cniDir, req.containerId, req.ifname);
  } else {
    writeCache(conf.cniDir, { ...read.record, state: 'adding', attachments: failed });
  }
  const error = combinedError(errors, 'DEL');
  if (error) throw error;
}
