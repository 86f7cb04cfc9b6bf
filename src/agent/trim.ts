import type { KubePod } from '../k8s/rest-client.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkAttachmentDefinition } from '../k8s/types.ts';
import { namedPortsOf, stringMap } from '../policy/cluster.ts';
import type { NamedPort, NamespaceView, PodAttachment } from '../policy/model.ts';
import type { KubeObject } from './object-store.ts';

/**
 * What the agent keeps of each object. Pods elsewhere in the cluster shrink to what policy
 * needs (labels, named ports, the addresses network-status lists); pods on this node keep their
 * metadata without managedFields (Multus #1203), which is all ADD reads.
 */

/** A pod as policy sees it: a peer or a target. */
export interface SlimPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  namedPorts: NamedPort[];
  attachments: PodAttachment[];
}

/** The network-status annotation as attachments; an unreadable one counts as none. */
export function attachmentsOf(annotation: string | undefined): PodAttachment[] {
  if (!annotation) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(annotation);
  } catch {
    return [];
  }
  if (!Array.isArray(doc)) return [];
  const out: PodAttachment[] = [];
  for (const s of doc) {
    if (typeof s?.name !== 'string') continue;
    const ips = Array.isArray(s.ips)
      ? s.ips.filter((ip: unknown): ip is string => typeof ip === 'string').map((ip: string) => ip.split('/')[0]!)
      : [];
    const a: PodAttachment = { network: s.name, ips };
    if (typeof s.interface === 'string') a.ifname = s.interface;
    if (typeof s.mac === 'string') a.mac = s.mac;
    out.push(a);
  }
  return out;
}

export function slimPod(obj: KubeObject): SlimPod {
  const annotations = obj.metadata.annotations;
  return {
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name,
    labels: stringMap(obj.metadata.labels),
    namedPorts: namedPortsOf(obj.spec),
    attachments: attachmentsOf(annotations?.[ANNOTATION_NETWORK_STATUS]),
  };
}

/** The pod as ADD reads it (KubePodSource's shape), or undefined for a pod of another node. */
export function localPod(nodeName: string): (obj: KubeObject) => KubePod | undefined {
  return (obj) => {
    const spec = obj.spec as { nodeName?: unknown } | undefined;
    if (spec?.nodeName !== nodeName) return undefined;
    const { managedFields: _m, ...metadata } = obj.metadata;
    return { apiVersion: 'v1', kind: 'Pod', metadata: metadata as KubePod['metadata'], spec: { nodeName } };
  };
}

export function trimmedNad(obj: KubeObject): NetworkAttachmentDefinition {
  const { managedFields: _m, ...metadata } = obj.metadata;
  const spec = obj.spec as { config?: unknown } | undefined;
  return {
    apiVersion: obj.apiVersion ?? 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: metadata as NetworkAttachmentDefinition['metadata'],
    spec: typeof spec?.config === 'string' ? { config: spec.config } : {},
  };
}

export function namespaceView(obj: KubeObject): NamespaceView {
  return { name: obj.metadata.name, labels: stringMap(obj.metadata.labels) };
}
