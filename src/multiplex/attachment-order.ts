import type { CachedAttachment } from '../cache/attachment-cache.ts';
import type { BraidConf } from '../config/types.ts';
import { createLogger } from '../log/log.ts';
import type { PlannedAttachment } from './plan-types.ts';

/**
 * In which order a pod's attachments run. By default one at a time in the declared order (NPWG
 * 7.3), DEL in reverse. With `parallelAttachments` the steps that need an order keep it and the
 * attachments between them run concurrently:
 *
 * - the cluster network first, alone: its interface (eth0) is the pod's primary and others may
 *   rely on it;
 * - then every additional network (defaultNetworks and the annotation's) at once;
 * - then the auxiliary chain (`auxiliaryCNIChainName`), which runs on the cluster interface after
 *   everything else, alone;
 * - `default-route` is applied after all of them in either mode (add.ts), so it needs no step.
 *
 * DEL reverses the steps: the auxiliary chain, the additional networks at once, the cluster
 * network last. A pod with a plugin that changes state shared by the whole pod namespace runs
 * one at a time even with the key set (NAMESPACE_WIDE).
 */

/** What the order depends on, for a planned or a cached attachment. */
export interface OrderedAttachment {
  network: string;
  ifname: string;
  isDefault: boolean;
  auxiliary?: boolean | undefined;
  /** The delegate's plugin types, in chain order. */
  types: string[];
}

export interface AttachmentOrder {
  /** Steps run one after another; the positions in one step run concurrently. */
  steps: number[][];
  /** Why the attachments run one at a time although `parallelAttachments` is set. */
  sequentialBecause?: string;
}

/**
 * Plugins whose work in the pod namespace is not confined to their own interface: two
 * attachments running them at once would race for the same tables, rules or devices.
 */
export const NAMESPACE_WIDE: Readonly<Record<string, string>> = {
  sbr: 'picks a free routing table and adds policy rules for the whole pod namespace',
  vrf: 'creates or joins a VRF device that other attachments may name too',
  'route-override': 'deletes and adds routes of the whole pod namespace',
};

const oneByOne = (n: number): number[][] => Array.from({ length: n }, (_, i) => [i]);

/** Whether an attachment may run beside its neighbours: not the cluster network, not the auxiliary chain. */
const independent = (a: OrderedAttachment): boolean => !a.isDefault && !a.auxiliary;

/** The ADD steps (pure; see the module comment). */
export function attachmentSteps(parallel: boolean, attachments: OrderedAttachment[]): AttachmentOrder {
  if (!parallel) return { steps: oneByOne(attachments.length) };
  for (const a of attachments) {
    const shared = a.types.find((t) => NAMESPACE_WIDE[t] !== undefined);
    if (shared) {
      return {
        steps: oneByOne(attachments.length),
        sequentialBecause: `network ${a.network} (${a.ifname}) uses plugin ${shared}, which ${NAMESPACE_WIDE[shared]}`,
      };
    }
  }
  const steps: number[][] = [];
  attachments.forEach((a, i) => {
    const last = steps.at(-1);
    const joins = independent(a) && last !== undefined && independent(attachments[last[0]!]!);
    if (joins) last.push(i);
    else steps.push([i]);
  });
  return { steps };
}

/** DEL runs the ADD steps backwards. */
export function reversedSteps(steps: number[][]): number[][] {
  return [...steps].reverse().map((step) => [...step].reverse());
}

export function plannedForOrder(a: PlannedAttachment): OrderedAttachment {
  return {
    network: a.network,
    ifname: a.ifname,
    isDefault: a.isDefault,
    auxiliary: a.auxiliary,
    types: a.list.plugins.map((p) => String(p.type)),
  };
}

/** The plugin types of cached configuration bytes; none when they do not parse (DEL reports that itself). */
function cachedTypes(confBytes: string): string[] {
  try {
    const doc = JSON.parse(confBytes) as { type?: unknown; plugins?: { type?: unknown }[] };
    const plugins = Array.isArray(doc.plugins) ? doc.plugins : [doc];
    return plugins.map((p) => String(p?.type));
  } catch {
    return [];
  }
}

export function cachedForOrder(a: CachedAttachment): OrderedAttachment {
  return {
    network: a.network,
    ifname: a.ifname,
    isDefault: a.isDefault,
    auxiliary: a.auxiliary,
    types: cachedTypes(a.confBytes),
  };
}

/** The steps for one call, logging (verbose) why a pod runs one at a time despite the key. */
export function orderAttachments(
  conf: BraidConf,
  verb: 'ADD' | 'DEL',
  containerId: string,
  attachments: OrderedAttachment[],
): number[][] {
  const order = attachmentSteps(conf.parallelAttachments, attachments);
  if (order.sequentialBecause) {
    createLogger(conf, `${verb} ${containerId}`).verbose(
      `parallelAttachments: attachments run one at a time: ${order.sequentialBecause}`,
    );
  }
  return verb === 'ADD' ? order.steps : reversedSteps(order.steps);
}
