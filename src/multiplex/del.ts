import type { CniRequest } from '../cni/request.ts';
import type { DelegateObserver } from '../cni/list-context.ts';
import { collectStaleTempFiles } from '../base/atomic-file.ts';
import type { BraidConf } from '../config/types.ts';
import {
  quarantineCache,
  readCache,
  removeCache,
  writeCache,
  type CachedAttachment,
} from '../cache/attachment-cache.ts';
import { containerTarget, delegatePath } from './delegate-context.ts';
import { stopRecordedDelegates } from './recorded-delegates.ts';
import { combinedError, teardown } from './teardown.ts';
import { repairAttachments } from './unreadable-attachments.ts';

/**
 * The attachments of a container whose cache is missing or unreadable: what Multus left for it,
 * else recomputed from the API or local sources (takeover.ts). Undefined when that is not possible.
 */
export type Recompute = () => Promise<CachedAttachment[] | undefined>;

function warn(message: string): void {
  process.stderr.write(`braid: ${message}\n`);
}

/**
 * DEL from the cache: every attachment in reverse (with `parallelAttachments` the additional
 * networks at once, teardown.ts), past failures, netns present or not. The
 * record is removed when all DELs succeeded; with `retryDeleteOnError` (braid's default) the
 * failed attachments stay recorded so that the runtime's retry does exactly those.
 */
export async function executeDel(
  req: CniRequest,
  conf: BraidConf,
  recompute: Recompute,
  observer?: DelegateObserver,
): Promise<void> {
  // Temp files of writers killed mid-write (this container's or any other's) go with any DEL.
  collectStaleTempFiles(conf.cniDir);
  const read = readCache(conf.cniDir, req.containerId, req.ifname);
  let attachments: CachedAttachment[] | undefined;
  let cniPath = delegatePath(conf, req.path);
  if (read.status === 'ok') {
    // A delegate of an ADD whose braid was killed may still run: it must not finish after this DEL.
    await stopRecordedDelegates(read.record);
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
      warn(
        `no cache for container ${req.containerId} (${req.ifname}) and nothing to recompute it from: nothing to delete`,
      );
      return;
    }
  }

  const repaired = await repairAttachments(attachments, recompute);
  for (const note of repaired.notes) warn(`container ${req.containerId}: ${note}`);
  const { failed, errors } = await teardown(conf, containerTarget(req, cniPath, observer), repaired.attachments);
  if (failed.length === 0 || !conf.retryDeleteOnError || read.status !== 'ok') {
    removeCache(conf.cniDir, req.containerId, req.ifname);
  } else {
    writeCache(conf.cniDir, { ...read.record, state: 'adding', attachments: failed });
  }
  const error = combinedError(errors, 'DEL');
  if (error) throw error;
}
