import type { CacheRecord } from '../cache/attachment-cache.ts';
import { stopDelegate } from '../cni/delegate-process.ts';

/**
 * Stops every delegate an ADD recorded as running: one per attachment (several at once with
 * `parallelAttachments`), and the record-wide one a braid before per-attachment records wrote.
 * A DEL or a new ADD after braid was killed mid-ADD calls this first, so that no delegate can
 * finish after the cleanup.
 */
export async function stopRecordedDelegates(record: CacheRecord): Promise<void> {
  const running = [record.delegate, ...record.attachments.map((a) => a.delegate)].filter((d) => d !== undefined);
  await Promise.all(running.map((d) => stopDelegate(d)));
}

/** The ADD is over (done or rolled back): no delegate of it runs any more. */
export function forgetDelegates(record: CacheRecord): void {
  delete record.delegate;
  for (const a of record.attachments) delete a.delegate;
}
