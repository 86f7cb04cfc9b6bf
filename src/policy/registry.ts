import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { withFileLock } from '../net/file-lock.ts';
import { ifacesDir } from './enforced.ts';

/**
 * Interfaces braid enforces policy on, one JSON file each under <stateDir>/ifaces, so that a
 * policy change can find and recompile every one of them, plus the iface_id counter. All
 * changes happen under an flock on <stateDir>/lock; ids are never reused, so entries a crash
 * left behind in BPF maps can never be mistaken for a new interface's.
 */
export type HookPlace = 'host-veth' | 'pod-device';

/** What braid keeps per interface (also the AttachedInterface it stores in its own cache). */
export interface IfaceRecord {
  ifaceId: number;
  containerId: string;
  pod: { namespace: string; name: string };
  /** `ns/nad` */
  network: string;
  /** The interface name inside the pod. */
  ifname: string;
  /** The pod's network namespace path. */
  netns: string;
  ips: string[];
  mac?: string;
  hook: {
    place: HookPlace;
    /** Device the programs are attached to: the host-side veth (host netns) or the pod device. */
    ifname: string;
    ifindex: number;
    /** Cookie of the device's network namespace, as a decimal string (JSON has no 64-bit ints). */
    netnsCookie: string;
  };
  /** Pinned tcx links: mnp_in and mnp_out. */
  links: { in: string; out: string };
  /** MNP_F_ALLOW_* options of this interface. */
  options: number;
  /** Kernel ids of the pinned links once attached: a pin holding another id is not this record's. */
  linkIds?: { in: number; out: number };
  /** `ns/name` of the policies the interface was last compiled with (the governed index). */
  policies?: string[];
}

function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 1), { durable: false });
}

/** Runs `fn` holding the policy state lock (serialises concurrent ADD, DEL and policy commands). */
export function withPolicyLock<T>(stateDir: string, fn: () => T): T {
  return withFileLock(stateDir, fn);
}

/**
 * A new interface id (call with the lock held). Ids start at 1 and stay below 2^31 (scope =
 * id << 1 | dir). The counter here is only where the search starts: the id is owned by its slot
 * in bpffs (see link-slots.ts), so a lost cache directory or a second conf cannot collide.
 */
export function allocateIfaceId(stateDir: string, reserve: (hint: number) => number): number {
  const file = join(stateDir, 'next-id');
  let next = 1;
  try {
    next = Number.parseInt(readFileSync(file, 'utf8'), 10) || 1;
  } catch {
    // first interface, or a lost cache directory
  }
  if (next >= 2 ** 31) next = 1;
  const id = reserve(next);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeJsonAtomic(file, id + 1);
  return id;
}

export function readRecord(stateDir: string, ifaceId: number): IfaceRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(ifacesDir(stateDir), `${ifaceId}.json`), 'utf8')) as IfaceRecord;
  } catch {
    return undefined;
  }
}

export function saveRecord(stateDir: string, rec: IfaceRecord): void {
  mkdirSync(ifacesDir(stateDir), { recursive: true, mode: 0o700 });
  writeJsonAtomic(join(ifacesDir(stateDir), `${rec.ifaceId}.json`), rec);
}

export function removeRecord(stateDir: string, ifaceId: number): void {
  rmSync(join(ifacesDir(stateDir), `${ifaceId}.json`), { force: true });
}

export function listRecords(stateDir: string): IfaceRecord[] {
  let names: string[];
  try {
    names = readdirSync(ifacesDir(stateDir)).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: IfaceRecord[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(readFileSync(join(ifacesDir(stateDir), n), 'utf8')) as IfaceRecord);
    } catch {
      // a torn write of an interface being removed
    }
  }
  return out.sort((a, b) => a.ifaceId - b.ifaceId);
}
