import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../base/atomic-file.ts';
import type { IfaceRecord } from './registry.ts';
import type { PodView } from './model.ts';

/** One interface braid's attachments created in a pod (what ADD hands to the policy runtime). */
export interface PodInterface {
  containerId: string;
  pod: { namespace: string; name: string };
  /** `ns/nad` */
  network: string;
  ifname: string;
  /** Path of the pod's network namespace. */
  netns: string;
  mac?: string;
  ips: string[];
  /**
   * Where the programs go: "auto" (default) is the host side of a veth, else the device in the
   * pod; "pod" forces the pod device. Use "pod" when a program on the host side redirects
   * traffic past the host veth's egress (braid-veth's fast path uses bpf_redirect_peer).
   */
  placement?: 'auto' | 'pod';
}

/**
 * Every pod braid's ADD saw with policy on, whether a policy selected it or not:
 *   <stateDir>/pods/<containerId>.json
 * A pod no policy selects gets no programs (and its ADD never loads libbpf); this entry is how
 * `braid policy apply` and the agent's sync find it when a policy comes to select it later, and
 * how its DEL finds the interfaces whose policies named it as a peer (by the labels it had).
 */
export interface PodEntry {
  containerId: string;
  pod: { namespace: string; name: string };
  labels: Record<string, string>;
  hasNamedPorts: boolean;
  ifaces: PodInterface[];
  /** Interface ids the registry enforces for this container. */
  ifaceIds: number[];
}

function podsDir(stateDir: string): string {
  return join(stateDir, 'pods');
}

function entryFile(stateDir: string, containerId: string): string {
  return join(podsDir(stateDir), `${containerId}.json`);
}

export function savePodEntry(stateDir: string, entry: PodEntry): void {
  mkdirSync(podsDir(stateDir), { recursive: true, mode: 0o700 });
  writeFileAtomic(entryFile(stateDir, entry.containerId), JSON.stringify(entry), { durable: false });
}

export function readPodEntry(stateDir: string, containerId: string): PodEntry | undefined {
  try {
    return JSON.parse(readFileSync(entryFile(stateDir, containerId), 'utf8')) as PodEntry;
  } catch {
    return undefined;
  }
}

export function removePodEntry(stateDir: string, containerId: string): void {
  rmSync(entryFile(stateDir, containerId), { force: true });
}

export function listPodEntries(stateDir: string): PodEntry[] {
  let names: string[];
  try {
    names = readdirSync(podsDir(stateDir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: PodEntry[] = [];
  for (const n of names) {
    const e = readPodEntry(stateDir, n.slice(0, -'.json'.length));
    if (e) out.push(e);
  }
  return out;
}

/** The directory a watcher follows to see thin-mode ADDs and DELs. */
export function podEntriesDir(stateDir: string): string {
  return podsDir(stateDir);
}

/** Adds the pod's interfaces (and the ids now enforced for it) to its entry; `known` is the pod as the policy source knows it. */
export function recordPodEntry(
  stateDir: string,
  known: PodView | undefined,
  ifaces: readonly PodInterface[],
  enforced: readonly Pick<IfaceRecord, 'ifaceId'>[],
): PodEntry | undefined {
  const first = ifaces[0];
  if (!first) return undefined;
  const before = readPodEntry(stateDir, first.containerId);
  const byName = new Map((before?.ifaces ?? []).map((i) => [i.ifname, i]));
  for (const i of ifaces) byName.set(i.ifname, i);
  const entry: PodEntry = {
    containerId: first.containerId,
    pod: { ...first.pod },
    labels: known?.labels ?? before?.labels ?? {},
    hasNamedPorts: known ? known.namedPorts.length > 0 : (before?.hasNamedPorts ?? false),
    ifaces: [...byName.values()],
    ifaceIds: [...new Set([...(before?.ifaceIds ?? []), ...enforced.map((r) => r.ifaceId)])],
  };
  savePodEntry(stateDir, entry);
  return entry;
}
