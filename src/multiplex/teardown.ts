import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError, CniError } from '../base/errors.ts';
import { delNetworkList } from '../cni/runtime.ts';
import type { BraidConf } from '../config/types.ts';
import type { CachedAttachment } from '../cache/attachment-cache.ts';
import { delegateContext, type DelegateTarget } from './delegate-context.ts';
import { removeDeviceInfo } from './device-info.ts';
import { LIMITS } from '../base/defaults.ts';
import { cachedForOrder, orderAttachments } from './attachment-order.ts';
import { runSteps } from './run-steps.ts';

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

type DelOutcome = { kind: 'done' } | { kind: 'failed' | 'warning'; error: CniError };

async function delAttachment(conf: BraidConf, target: DelegateTarget, att: CachedAttachment): Promise<DelOutcome> {
  try {
    const list = parseNetworkConfig(att.confBytes, `cached configuration of ${att.network}`);
    await delNetworkList(list, delegateContext(conf, target, att), att.result);
    removeDeviceInfo(att);
    return { kind: 'done' };
  } catch (e) {
    const error = asCniError(e);
    if (att.state !== 'pending') return { kind: 'failed', error };
    process.stderr.write(
      `braid: DEL of ${att.network} (${att.ifname}), whose ADD never completed, failed: ${error.message}\n`,
    );
    return { kind: 'warning', error };
  }
}

/**
 * DELs attachments in reverse order and keeps going past failures (NPWG 7.2, CNI D4): one
 * broken delegate must not leak the interfaces and addresses of the others. With
 * `parallelAttachments` the additional networks go at once, between the auxiliary chain and the
 * cluster network (attachment-order.ts). Errors are listed in reverse declared order either way,
 * so the one reported first does not depend on which delegate finished first.
 */
export async function teardown(
  conf: BraidConf,
  target: DelegateTarget,
  attachments: CachedAttachment[],
): Promise<TeardownOutcome> {
  const steps = orderAttachments(conf, 'DEL', target.containerId, attachments.map(cachedForOrder));
  const outcomes: DelOutcome[] = [];
  await runSteps(
    steps,
    LIMITS.parallelAttachments,
    async (i) => {
      outcomes[i] = await delAttachment(conf, target, attachments[i]!);
    },
    { stopOnFailure: false },
  );
  const failed: CachedAttachment[] = [];
  const errors: CniError[] = [];
  const warnings: CniError[] = [];
  for (let i = attachments.length - 1; i >= 0; i--) {
    const outcome = outcomes[i];
    if (outcome?.kind === 'failed') {
      failed.unshift(attachments[i]!);
      errors.push(outcome.error);
    } else if (outcome?.kind === 'warning') warnings.push(outcome.error);
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
