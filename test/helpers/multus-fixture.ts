import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './netns.ts';
import { runPlugin } from './run-plugin.ts';

/**
 * What Multus v4 thin leaves on a node after an ADD, written from the documented formats
 * (multus-compat.md section 6; real Multus is not available here): the real delegates run as
 * Multus runs them (libcni, cache dir = Multus' cniDir), then
 * - libcni's cache `<cniDir>/results/<network>-<containerID>-<ifname>` (kind cniCacheV1);
 * - Multus' `<cniDir>/<containerID>`: its DelegateNetConf list, Go field names, Bytes in base64.
 */

export interface MultusDelegate {
  /** Multus' display name: `ns/nad` for a NAD, the CNI name for the cluster network. */
  display: string;
  /** The delegate conf or conflist exactly as Multus ran it. */
  bytes: string;
  ifname: string;
  master?: boolean;
  /** ifnameRequest (the annotation's `interface`), when the pod asked for one. */
  ifnameRequest?: string;
}

export interface MultusPod {
  containerId: string;
  netns: Netns;
  node: Netns;
  pod?: { namespace: string; name: string; uid?: string };
  cniPath?: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** CNI_ARGS as Multus builds them for its delegates (multus.go L396). */
export function multusArgs(p: MultusPod): [string, string][] {
  const pod = p.pod ?? { namespace: 'default', name: 'web' };
  return [
    ['IgnoreUnknown', 'true'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', p.containerId],
    ['K8S_POD_UID', pod.uid ?? ''],
  ];
}

/** Runs one delegate (each plugin of a conflist, prevResult passed along) as libcni would; returns the result. */
async function runDelegate(p: MultusPod, d: MultusDelegate): Promise<Record<string, unknown>> {
  const doc = JSON.parse(d.bytes) as Record<string, any>;
  const plugins: Record<string, any>[] = Array.isArray(doc.plugins) ? doc.plugins : [doc];
  let prev: Record<string, unknown> | undefined;
  for (const plugin of plugins) {
    const stdin = { ...plugin, name: doc.name, cniVersion: doc.cniVersion, ...(prev ? { prevResult: prev } : {}) };
    const r = await runPlugin(join(p.cniPath ?? '/usr/lib/cni', String(plugin.type)), {
      command: 'ADD',
      containerId: p.containerId,
      netns: p.netns,
      ifname: d.ifname,
      args: multusArgs(p)
        .map(([k, v]) => `${k}=${v}`)
        .join(';'),
      path: p.cniPath ?? '/usr/lib/cni',
      stdin,
      hostNetns: p.node,
    });
    if (r.code !== 0 || !r.json)
      throw new Error(`fixture ADD of ${d.display} (${String(plugin.type)}) failed: ${r.stdout} ${r.stderr}`);
    prev = r.json;
  }
  return prev!;
}

/** A libcni cache entry (libcni's cachedInfo, JSON field names). */
export function libcniEntry(p: MultusPod, d: MultusDelegate, result: unknown): Record<string, unknown> {
  return {
    kind: 'cniCacheV1',
    containerId: p.containerId,
    config: b64(d.bytes),
    ifName: d.ifname,
    networkName: (JSON.parse(d.bytes) as { name: string }).name,
    netns: p.netns.path,
    cniArgs: multusArgs(p),
    capabilityArgs: {},
    result,
  };
}

/** One DelegateNetConf as Go's encoding/json writes it (fields without tags keep their Go names). */
export function delegateNetConf(d: MultusDelegate): Record<string, unknown> {
  const doc = JSON.parse(d.bytes) as Record<string, any>;
  const isList = Array.isArray(doc.plugins);
  const conf = isList
    ? { cniVersion: doc.cniVersion, name: doc.name, type: '' }
    : { cniVersion: doc.cniVersion, name: doc.name, type: doc.type };
  const confList = isList
    ? { cniVersion: doc.cniVersion, name: doc.name, plugins: doc.plugins }
    : { cniVersion: '', name: '', plugins: null };
  const out: Record<string, unknown> = {
    Conf: conf,
    ConfList: confList,
    Name: d.display,
    IsFilterV4Gateway: false,
    IsFilterV6Gateway: false,
    Bytes: b64(d.bytes),
  };
  if (d.ifnameRequest) out.ifnameRequest = d.ifnameRequest;
  if (d.master) out.MasterPlugin = true;
  return out;
}

export interface MultusAddOptions {
  libcni?: boolean;
  multusFile?: boolean;
}

/** Runs the delegates in order and writes the caches Multus would leave; returns the results. */
export async function multusAdd(
  cniDir: string,
  p: MultusPod,
  delegates: MultusDelegate[],
  opts: MultusAddOptions = {},
): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const d of delegates) results.push(await runDelegate(p, d));
  if (opts.libcni !== false) {
    mkdirSync(join(cniDir, 'results'), { recursive: true });
    delegates.forEach((d, i) => {
      const name = (JSON.parse(d.bytes) as { name: string }).name;
      writeFileSync(
        join(cniDir, 'results', `${name}-${p.containerId}-${d.ifname}`),
        JSON.stringify(libcniEntry(p, d, results[i])),
      );
    });
  }
  if (opts.multusFile !== false) {
    mkdirSync(cniDir, { recursive: true });
    writeFileSync(join(cniDir, p.containerId), JSON.stringify(delegates.map(delegateNetConf)));
  }
  return results;
}

/** Files left in Multus' cniDir (its own per-container files and libcni's results). */
export function multusFiles(cniDir: string): string[] {
  if (!existsSync(cniDir)) return [];
  const own = readdirSync(cniDir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
  const results = existsSync(join(cniDir, 'results'))
    ? readdirSync(join(cniDir, 'results')).map((n) => `results/${n}`)
    : [];
  return [...own, ...results].sort();
}
