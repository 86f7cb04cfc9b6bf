import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { join } from 'node:path';

/**
 * What DEL and GC need about one attachment when the pod's namespace may already be gone:
 * one JSON file per attachment under `<stateDir>/endpoints/`, written atomically.
 */
export interface EndpointRecord {
  containerId: string;
  ifname: string;
  netns: string;
  network: string;
  hostVeth: string;
  hostIfindex: number;
  hostMac: string;
  podMac: string;
  /** Pod addresses as configured (CIDR /32 or /128). */
  ips: string[];
  /** The network config exactly as ADD received it: GC replays IPAM DEL with it. */
  config: string;
  argsRaw: string;
}

function dirOf(stateDir: string): string {
  return join(stateDir, 'endpoints');
}

export function writeRecord(stateDir: string, rec: EndpointRecord): void {
  const dir = dirOf(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Complete or absent, and code 5 naming the path when the disk is full.
  writeFileAtomic(join(dir, `${rec.hostVeth}.json`), JSON.stringify(rec), { durable: false });
}

export function readRecord(stateDir: string, hostVeth: string): EndpointRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dirOf(stateDir), `${hostVeth}.json`), 'utf8')) as EndpointRecord;
  } catch {
    return undefined;
  }
}

export function listRecords(stateDir: string): EndpointRecord[] {
  let names: string[];
  try {
    names = readdirSync(dirOf(stateDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => readRecord(stateDir, n.slice(0, -'.json'.length)))
    .filter((r): r is EndpointRecord => r !== undefined);
}

export function removeRecord(stateDir: string, hostVeth: string): void {
  rmSync(join(dirOf(stateDir), `${hostVeth}.json`), { force: true });
}
