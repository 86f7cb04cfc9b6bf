import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError, CniError } from '../base/errors.ts';
import { delNetworkList } from '../cni/runtime.ts';
import type { BraidConf } from '../config/types.ts';
import type { CachedAttachment } from '../cache/attachment-cache.ts';
import { delegateContext, type DelegateTarget } from './delegate-context.ts';
import { removeDeviceInfo } from './device-info.ts';

export interface TeardownOutcome {
  /** Added attachments whose DEL failed, in their original order: they still hold resources. */
  failed: CachedAttachment[];
  errors: CniError[];
  /**
   * DEL failures of attachments whose ADD never completed. Some delegates fail DEL for what they
   * never created (host-device: "Link not found"); retrying those forever would wedge the pod's
   * DEL in the runtime, so they are reported and dropped.
   */
  warnings: CniError[];
}

/**
 * DELs attachments in reverse order and keeps going past failures (NPWG 7.2, CNI D4): one
 * broken delegate must not leak the interfaces and addresses of the others.
 */
export async function teardown(
  conf: BraidConf,
  target: DelegateTarget,
  attachments: CachedAttachment[],
): Promise<TeardownOutcome> {
  const failed: CachedAttachment[] = [];
  const errors: CniError[] = [];
  const warnings: CniError[] = [];
  for (const att of [...attachments].reverse()) {
    try {
      const list = parseNetworkConfig(att.confBytes, `cached configuration of ${att.network}`);
      await delNetworkList(list, delegateContext(conf, target, att), att.result);
      removeDeviceInfo(att);
    } catch (e) {
      if (att.state === 'pending') {
        warnings.push(asCniError(e));
        process.stderr.write(
          `braid: DEL of ${att.network} (${att.ifname}), whose ADD never completed, failed: ${asCniError(e).message}\n`,
        );
        continue;
      }
      failed.unshift(att);
      errors.push(asCniError(e));
    }
  }
  return { failed, errors, warnings };
}

/** The first error keeps its code (a delegate's own code is passed on); the others are named in the message. */
export function combinedError(errors: CniError[], what: string): CniError | undefined {
  const [first, ...rest] = errors;
  if (!first) return undefined;
  if (rest.length === 0) return first;
  const others = rest.map((e) => e.message).join('; ');
  return new CniError(
    first.code,
    `${first.message} (and ${rest.length} more ${what} failures: ${others})`,
    first.details,
  );
}
