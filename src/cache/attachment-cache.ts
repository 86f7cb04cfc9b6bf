import fs from 'node:fs';
import path from 'node:path';
import type { CniResult } from '../cni/result.ts';
import type { NetworkStatus } from '../k8s/types.ts';
import { writeFileAtomic } from '../base/atomic-file.ts';
import type { DelegateProcess } from '../cni/delegate-process.ts';

/**
 * The per-container cache: everything DEL, CHECK and GC need, so that they never ask a pod or
 * NAD source again. It is written before the first delegate runs and after each one, so that a
 * braid killed in the middle of ADD still leaves a record that DEL can clean up from.
 */
export const CACHE_KIND = 'braidCacheV1';

export interface CachedAttachment {
  /** Display name: `ns/nad` for NADs, the CNI network name for files. */
  network: string;
  ifname: string;
  isDefault: boolean;
  /** The delegate network configuration exactly as it was run. */
  confBytes: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  /** `pending` until the delegate's ADD returned; DEL replays pending attachments too. */
  state: 'pending' | 'added';
  result?: CniResult;
  defaultRoute?: string[];
  /** Multus' auxiliaryCNIChainName chain on the cluster interface: not an attachment of its own in network-status. */
  auxiliary?: boolean;
  /**
   * The delegate this attachment's ADD is running (recorded before it acts, dropped when the ADD
   * ends): a DEL or new ADD after braid was killed stops it first, so that it cannot finish later.
   * Per attachment, as several run at once with `parallelAttachments`.
   */
  delegate?: DelegateProcess;
}

export interface CacheRecord {
  kind: typeof CACHE_KIND;
  containerId: string;
  /** The ifname the runtime called braid with; with containerId it keys the record. */
  ifname: string;
  netns: string;
  /** braid's own network name (from its conf), as the runtime knows it. */
  networkName: string;
  cniVersion: string;
  pod?: { namespace: string; name: string; uid?: string };
  cniPath: string[];
  state: 'adding' | 'added';
  attachments: CachedAttachment[];
  networkStatus?: NetworkStatus[];
  /** Written by braids before per-attachment records (CachedAttachment.delegate); still stopped when found. */
  delegate?: DelegateProcess;
  updatedAt: string;
}

export type CacheRead =
  | { status: 'missing' }
  | { status: 'corrupt'; file: string; reason: string }
  | { status: 'ok'; record: CacheRecord };

export function cacheFile(cacheDir: string, containerId: string, ifname: string): string {
  return path.join(cacheDir, `${containerId}-${ifname}.json`);
}

/**
 * A record still `adding` only has to survive braid being killed (the page cache keeps it), so
 * it is not flushed to disk; a finished record is, because DEL after a node reboot needs it to
 * free addresses.
 */
export function writeCache(cacheDir: string, record: CacheRecord): void {
  record.updatedAt = new Date().toISOString();
  const file = cacheFile(cacheDir, record.containerId, record.ifname);
  writeFileAtomic(file, JSON.stringify(record), { durable: record.state === 'added' });
}

function isRecord(value: unknown): value is CacheRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<CacheRecord>;
  return (
    v.kind === CACHE_KIND &&
    typeof v.containerId === 'string' &&
    typeof v.ifname === 'string' &&
    Array.isArray(v.attachments) &&
    v.attachments.every((a) => typeof a?.confBytes === 'string' && typeof a?.ifname === 'string')
  );
}

export function readCacheFile(file: string): CacheRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'corrupt', file, reason: (e as Error).message };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isRecord(parsed)) return { status: 'corrupt', file, reason: 'not a braid cache record' };
    return { status: 'ok', record: parsed };
  } catch (e) {
    return { status: 'corrupt', file, reason: (e as Error).message };
  }
}

export function readCache(cacheDir: string, containerId: string, ifname: string): CacheRead {
  return readCacheFile(cacheFile(cacheDir, containerId, ifname));
}

export function removeCache(cacheDir: string, containerId: string, ifname: string): void {
  fs.rmSync(cacheFile(cacheDir, containerId, ifname), { force: true });
}

/**
 * Moves an unreadable record aside instead of deleting it, so that an operator can still see
 * what it held; `braid status` lists these.
 */
export function quarantineCache(file: string): string {
  const target = `${file}.corrupt-${Date.now()}`;
  try {
    fs.renameSync(file, target);
  } catch {
    // Already gone: nothing to keep.
  }
  return target;
}

/** Every readable record in the cache directory (for GC and `braid status`). */
export function listCache(cacheDir: string): { file: string; read: CacheRead }[] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => path.join(cacheDir, n))
    .map((file) => ({ file, read: readCacheFile(file) }));
}
