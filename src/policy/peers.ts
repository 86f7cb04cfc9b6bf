import { governedBy } from './governed.ts';
import type { ClusterView } from './model.ts';
import { policiesNaming, type PeerPod } from './peer-of.ts';
import { readPodEntry, type PodInterface } from './pod-entries.ts';
import { readRecord, type IfaceRecord } from './registry.ts';
import type { PolicySource } from './source.ts';

type PodSide = Pick<PodInterface, 'containerId' | 'pod' | 'network'>;

/** The pod of these interfaces as a peer: its labels as the source knows them (or as its entry recorded them). */
export function peerPod(stateDir: string, source: PolicySource, ifaces: readonly PodSide[]): PeerPod | undefined {
  const first = ifaces[0];
  if (!first) return undefined;
  const known = source.pod(first.pod.namespace, first.pod.name);
  const entry = known ? undefined : readPodEntry(stateDir, first.containerId);
  return {
    namespace: first.pod.namespace,
    name: first.pod.name,
    labels: known?.labels ?? entry?.labels ?? {},
    networks: [...new Set([...ifaces.map((i) => i.network), ...(entry?.ifaces ?? []).map((i) => i.network)])],
    hasNamedPorts: known ? known.namedPorts.length > 0 : (entry?.hasNamedPorts ?? false),
  };
}

/**
 * The enforced interfaces (other than the pod's own) whose policies name the pod of `ifaces` as a
 * peer: the only ones its arrival or departure changes.
 */
export function affectedRecords(stateDir: string, source: PolicySource, ifaces: readonly PodSide[]): IfaceRecord[] {
  const peer = peerPod(stateDir, source, ifaces);
  if (!peer) return [];
  const policies = policiesNaming(source.policies(), peer, source.namespaces());
  if (policies.length === 0) return [];
  const own = new Set(ifaces.map((i) => i.containerId));
  const out: IfaceRecord[] = [];
  for (const id of [...governedBy(stateDir, policies)].sort((a, b) => a - b)) {
    const rec = readRecord(stateDir, id);
    if (rec && !own.has(rec.containerId)) out.push(rec);
  }
  return out;
}

/** The view without the addresses the departing pod had on these networks. */
export function viewWithout(view: ClusterView, departed: readonly PodSide[]): ClusterView {
  const gone = new Set(departed.map((a) => `${a.pod.namespace}/${a.pod.name}/${a.network}`));
  return {
    ...view,
    pods: view.pods.map((pod) => ({
      ...pod,
      attachments: pod.attachments.filter((x) => !gone.has(`${pod.namespace}/${pod.name}/${x.network}`)),
    })),
  };
}
