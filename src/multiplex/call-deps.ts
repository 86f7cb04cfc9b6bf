import type { DelegateObserver } from '../cni/list-context.ts';
import type { SandboxNet } from '../net/sandbox-net.ts';

/**
 * What the verbs' executors (add, del, check, gc, status) need from the process that runs them:
 * how to read and change the pod's namespace, and whom to tell about delegate run times. The
 * handlers pass their own; nothing here is module state.
 */
export interface CallDeps {
  net: SandboxNet;
  observer?: DelegateObserver | undefined;
}
