import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import type { CachedAttachment } from '../cache/attachment-cache.ts';
import type { KubeSessionDeps } from './kube-session.ts';
import type { Recompute } from './del.ts';
import { localSources } from './local-sources.ts';
import type { Logger } from '../log/log.ts';
import { readMultusContainer, removeMultusContainer, type MultusContainer } from './multus-cache.ts';
import { buildPlan } from './plan.ts';
import { resolveInputs, type Sources } from './resolve.ts';

/**
 * DEL of a container braid has no record of: a pod Multus set up before the node switched to
 * braid, or one whose record was lost. In order: what Multus left (multus-cache.ts), else the plan
 * again from the Kubernetes API when braid has access (the NAD may still be there), else from
 * local sources. Whatever cannot be resolved is reported and everything else is freed; the
 * cluster network is always part of it.
 */
export interface Takeover {
  recompute: Recompute;
  /** After a DEL that succeeded: Multus' files for the container go too. */
  finish(): void;
}

/** A kubeconfig in the conf, or the in-cluster service environment, turns the API sources on. */
export function wantsKubernetes(conf: BraidConf): boolean {
  return Boolean(conf.kubeconfig) || Boolean(process.env.KUBERNETES_SERVICE_HOST);
}

/** The plan again, tolerating what cannot be resolved; positions (and so ifnames) are kept. */
export async function recomputeAttachments(
  req: CniRequest,
  conf: BraidConf,
  sources: Sources,
  log: Logger,
): Promise<CachedAttachment[]> {
  const problems: string[] = [];
  const inputs = await resolveInputs(req, conf, sources, (p) => problems.push(p));
  const networks = [inputs.cluster, ...inputs.defaultNetworks, ...inputs.selected];
  const plan = buildPlan(inputs);
  for (const p of problems) log.error(`DEL of container ${req.containerId} without a record: cannot free ${p}`);
  return plan.attachments
    .filter((a) => networks[a.index]?.unresolved === undefined)
    .map((a) => ({
      network: a.network,
      ifname: a.ifname,
      isDefault: a.isDefault,
      confBytes: a.list.bytes,
      cniArgs: a.cniArgs,
      capabilityArgs: a.capabilityArgs,
      state: 'pending' as const,
    }));
}

async function fromSources(
  req: CniRequest,
  conf: BraidConf,
  log: Logger,
  kubeDeps: KubeSessionDeps | undefined,
): Promise<CachedAttachment[]> {
  if (wantsKubernetes(conf)) {
    const kube = await import('./kube-session.ts');
    const session = await kube.openKubeSession(conf, req, kubeDeps).catch((e: unknown) => {
      log.error(`DEL of container ${req.containerId}: no Kubernetes API (${(e as Error).message}); local sources only`);
      return undefined;
    });
    if (session) {
      try {
        return await recomputeAttachments(req, conf, session.sources, log);
      } finally {
        session.release();
      }
    }
  }
  return recomputeAttachments(req, conf, localSources(conf, req), log);
}

/** Multus' attachments of the container, with the cluster network added from braid's conf if Multus' cache lacks it. */
async function fromMultus(
  req: CniRequest,
  conf: BraidConf,
  found: MultusContainer,
  log: Logger,
  kubeDeps: KubeSessionDeps | undefined,
): Promise<CachedAttachment[]> {
  for (const p of found.problems) log.error(`Multus cache of container ${req.containerId}: ${p}`);
  if (found.attachments.some((a) => a.isDefault)) return found.attachments;
  log.error(`Multus cache of container ${req.containerId} has no cluster network attachment; using braid's`);
  const recomputed = await fromSources(req, conf, log, kubeDeps).catch(() => []);
  const cluster = recomputed.filter((a) => a.isDefault);
  return [...cluster, ...found.attachments];
}

/** `kubeDeps`: braid-agent's watch caches and shared clients (a plugin process passes none). */
export function takeover(req: CniRequest, conf: BraidConf, log: Logger, kubeDeps?: KubeSessionDeps): Takeover {
  let found: MultusContainer | undefined;
  return {
    recompute: async () => {
      found = readMultusContainer(conf.multusCniDir, req.containerId, req.ifname, req.args);
      if (found && found.attachments.length > 0) {
        log.verbose(`container ${req.containerId}: taking over Multus' attachments from ${found.files.join(', ')}`);
        return fromMultus(req, conf, found, log, kubeDeps);
      }
      return fromSources(req, conf, log, kubeDeps);
    },
    finish: () => {
      if (found) removeMultusContainer(found);
    },
  };
}
