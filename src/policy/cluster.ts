import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { listCache, type CacheRecord } from '../cache/attachment-cache.ts';
import type { FileMemo } from './file-memo.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus } from '../k8s/types.ts';
import type { ClusterView, NamedPort, NamespaceView, PodAttachment, PodView, Protocol } from './model.ts';

/**
 * The cluster as the local stores see it: pods (labels, named ports, addresses per network) and
 * namespaces. Addresses per (pod, network, interface) come from the first source that has them:
 * interfaces braid attached policy to on this node, braid's per-container cache, then the
 * network-status annotation of the pod manifests in the pod store.
 */
export interface LocalInterface {
  pod: { namespace: string; name: string };
  network: string;
  ifname: string;
  ips: string[];
  mac?: string;
}

interface Manifest {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  namedPorts: NamedPort[];
  statuses: NetworkStatus[];
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The string values of an object (labels, annotations); anything else counts as empty. */
export function stringMap(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Named container ports of a pod spec, for policies that name their ports. */
export function namedPortsOf(spec: unknown): NamedPort[] {
  const containers = (spec as { containers?: unknown } | undefined)?.containers;
  if (!Array.isArray(containers)) return [];
  const out: NamedPort[] = [];
  for (const c of containers) {
    for (const p of Array.isArray(c?.ports) ? c.ports : []) {
      if (typeof p?.name !== 'string' || typeof p?.containerPort !== 'number') continue;
      const protocol = (p.protocol ?? 'TCP') as Protocol;
      if (protocol === 'TCP' || protocol === 'UDP' || protocol === 'SCTP')
        out.push({ name: p.name, protocol, port: p.containerPort });
    }
  }
  return out;
}

function statusesOf(annotations: Record<string, string>): NetworkStatus[] {
  const raw = annotations[ANNOTATION_NETWORK_STATUS];
  if (!raw) return [];
  try {
    const doc: unknown = JSON.parse(raw);
    return Array.isArray(doc) ? (doc as NetworkStatus[]) : [];
  } catch {
    return [];
  }
}

function readManifest(podDir: string, namespace: string, file: string, memo?: FileMemo): Manifest {
  const path = join(podDir, namespace, file);
  type Doc = { metadata?: Record<string, unknown>; spec?: unknown };
  const doc = memo ? memo.read(path, (text) => parse(text) as Doc) : (parse(readFileSync(path, 'utf8')) as Doc);
  const meta = doc?.metadata ?? {};
  const name = typeof meta.name === 'string' ? meta.name : file.replace(/\.(ya?ml|json)$/, '');
  const annotations = stringMap(meta.annotations);
  return {
    namespace,
    name,
    labels: stringMap(meta.labels),
    namedPorts: namedPortsOf(doc?.spec),
    statuses: statusesOf(annotations),
  };
}

/** Pod manifests of the pod store; files that cannot be read are skipped (they hold no usable pod). */
export function readPodManifests(podDir: string, memo?: FileMemo): Manifest[] {
  const out: Manifest[] = [];
  for (const namespace of list(podDir)) {
    for (const file of list(join(podDir, namespace)).filter((f) => EXTENSIONS.some((e) => f.endsWith(e)))) {
      try {
        out.push(readManifest(podDir, namespace, file, memo));
      } catch {
        // not a pod manifest
      }
    }
  }
  return out;
}

/** One pod's labels and named ports from the pod store (<podDir>/<ns>/<name>.yaml|.yml|.json), if it has one. */
export function readPodView(podDir: string, namespace: string, name: string, memo?: FileMemo): PodView | undefined {
  for (const ext of EXTENSIONS) {
    try {
      const m = readManifest(podDir, namespace, `${name}${ext}`, memo);
      return { namespace, name: m.name, labels: m.labels, namedPorts: m.namedPorts, attachments: [] };
    } catch {
      // not this extension
    }
  }
  return undefined;
}

const bare = (ip: string) => ip.split('/')[0]!;

/** braid's per-container cache records; through `memo` only changed files are parsed again. */
function cacheRecords(cacheDir: string, memo?: FileMemo): CacheRecord[] {
  if (!memo) return listCache(cacheDir).flatMap(({ read }) => (read.status === 'ok' ? [read.record] : []));
  return list(cacheDir)
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return [memo.read(join(cacheDir, n), (text) => JSON.parse(text) as CacheRecord)];
      } catch {
        return [];
      }
    });
}

export function buildClusterView(
  podDir: string,
  cacheDir: string,
  local: readonly LocalInterface[],
  namespaces: NamespaceView[],
  memo?: FileMemo,
): ClusterView {
  const pods = new Map<string, PodView>();
  const seen = new Set<string>();
  const podOf = (namespace: string, name: string): PodView => {
    const key = `${namespace}/${name}`;
    let pod = pods.get(key);
    if (!pod) pods.set(key, (pod = { namespace, name, labels: {}, namedPorts: [], attachments: [] }));
    return pod;
  };
  const add = (namespace: string, name: string, a: PodAttachment) => {
    const key = `${namespace}/${name}/${a.network}/${a.ifname ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    podOf(namespace, name).attachments.push({ ...a, ips: a.ips.map(bare) });
  };
  for (const l of local)
    add(l.pod.namespace, l.pod.name, {
      network: l.network,
      ifname: l.ifname,
      ips: l.ips,
      ...(l.mac ? { mac: l.mac } : {}),
    });
  for (const record of cacheRecords(cacheDir, memo)) {
    if (!record.pod) continue;
    const { namespace, name } = record.pod;
    for (const s of record.networkStatus ?? [])
      add(namespace, name, {
        network: s.name,
        ifname: s.interface,
        ips: s.ips ?? [],
        ...(s.mac ? { mac: s.mac } : {}),
      });
  }
  for (const m of readPodManifests(podDir, memo)) {
    const pod = podOf(m.namespace, m.name);
    pod.labels = m.labels;
    pod.namedPorts = m.namedPorts;
    for (const s of m.statuses)
      add(m.namespace, m.name, {
        network: s.name,
        ifname: s.interface,
        ips: s.ips ?? [],
        ...(s.mac ? { mac: s.mac } : {}),
      });
  }
  return { pods: [...pods.values()], namespaces };
}
