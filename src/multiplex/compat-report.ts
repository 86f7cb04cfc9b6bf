import { COMPAT_EVENT_REASON, warningText } from '../base/leniency.ts';
import type { Logger } from '../log/log.ts';
import type { Plan } from './plan-types.ts';
import type { Sources } from './resolve.ts';

/**
 * Inputs braid accepted the way Multus does (base/leniency.ts): each is logged and, when braid
 * talks to the API, recorded as a Warning event on the pod naming the field and what braid did,
 * so that the team that owns the pod sees it with `kubectl describe pod`.
 */
export async function reportCompatWarnings(plan: Plan, log: Logger, warn: Sources['warn']): Promise<void> {
  for (const w of plan.warnings) {
    const who = plan.pod ? `pod ${plan.pod.namespace}/${plan.pod.name}` : `container ${plan.containerId}`;
    log.error(`warning: ${who}: ${warningText(w)}`);
    if (plan.pod && warn) await warn(plan.pod, COMPAT_EVENT_REASON, warningText(w));
  }
}
