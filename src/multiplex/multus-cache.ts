import fs from 'node:fs';
import path from 'node:path';
import { mergeCniArgs } from '../cni/args.ts';
import type { CniResult } from '../cni/result.ts';
import type { CachedAttachment } from '../cache/attachment-cache.ts';

/**
 * What Multus leaves on a node for each pod it set up (multus-compat.md section 6), read so that
 * braid can take those pods over after a node switches:
 * - libcni's cache, `<cniDir>/results/<network>-<containerID>-<ifname>` (`kind: cniCacheV1`),
 *   one per attachment, with the exact config bytes, CNI_ARGS, capability args and result;
 * - Multus' own `<cniDir>/<containerID>`: a JSON list of its DelegateNetConf (Go field names:
 *   `Conf`, `ConfList`, `Name`, `ifnameRequest`, `macRequest`, `ipRequest`, `deviceID`, `Bytes`
 *   = the raw delegate conf in base64, ...), in ADD order, the master first.
 * Nothing here writes; `remove` deletes only the files that were read.
 */
export interface MultusContainer {
  containerId: string;
  /** In ADD order (the cluster network first); DEL replays them in reverse. */
  attachments: CachedAttachment[];
  /** The network namespace libcni recorded ('' when unknown: DEL then runs without one, as after a reboot). */
  netns: string;
  /** The files this came from, removed once every DEL succeeded. */
  files: string[];
  /** Files that exist but could not be used, with the reason (reported, never fatal). */
  problems: string[];
}

interface LibcniEntry {
  file: string;
  containerId: string;
  networkName: string;
  ifname: string;
  netns: string;
  config: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  result?: CniResult;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function decodeBytes(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

function pairs(value: unknown): [string, string][] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (p): p is [string, string] => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string'),
  );
}

function libcniEntry(file: string): LibcniEntry {
  const doc = readJson(file);
  if (!isObject(doc) || doc.kind !== 'cniCacheV1') throw new Error('not a libcni cache entry (kind cniCacheV1)');
  const config = decodeBytes(doc.config);
  if (typeof doc.containerId !== 'string' || typeof doc.ifName !== 'string' || !config) {
    throw new Error('has no containerId, ifName or config');
  }
  const entry: LibcniEntry = {
    file,
    containerId: doc.containerId,
    networkName: typeof doc.networkName === 'string' ? doc.networkName : '',
    ifname: doc.ifName,
    netns: typeof doc.netns === 'string' ? doc.netns : '',
    config,
    cniArgs: pairs(doc.cniArgs),
    capabilityArgs: isObject(doc.capabilityArgs) ? doc.capabilityArgs : {},
  };
  if (isObject(doc.result)) entry.result = doc.result as unknown as CniResult;
  return entry;
}

/** libcni's entries of one container (or of all, for GC), keyed by their JSON, not their file names: network names may hold dashes. */
function libcniEntries(
  cniDir: string,
  containerId: string | undefined,
  problems: string[],
  broken: string[] = [],
): LibcniEntry[] {
  const dir = path.join(cniDir, 'results');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: LibcniEntry[] = [];
  for (const name of names) {
    if (containerId !== undefined && !name.includes(`-${containerId}-`)) continue;
    const file = path.join(dir, name);
    try {
      const entry = libcniEntry(file);
      if (containerId === undefined || entry.containerId === containerId) out.push(entry);
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
      broken.push(file);
    }
  }
  return out;
}

/** One DelegateNetConf of Multus' per-container file as an attachment. */
function delegateAttachment(
  d: Record<string, unknown>,
  index: number,
  runtimeIfname: string,
  runtimeArgs: [string, string][],
): CachedAttachment {
  const bytes = decodeBytes(d.Bytes);
  if (!bytes) throw new Error(`delegate ${index} has no Bytes`);
  const conf =
    isObject(d.ConfList) && typeof d.ConfList.name === 'string' && d.ConfList.name !== '' ? d.ConfList : d.Conf;
  const confName = isObject(conf) && typeof conf.name === 'string' ? conf.name : '';
  const master = d.MasterPlugin === true || (d.MasterPlugin === undefined && index === 0);
  const ifname =
    typeof d.ifnameRequest === 'string' && d.ifnameRequest !== ''
      ? d.ifnameRequest
      : master
        ? runtimeIfname
        : `net${index}`;
  const caps: Record<string, unknown> = {};
  const legacy: [string, string][] = [];
  if (typeof d.macRequest === 'string' && d.macRequest !== '') {
    caps.mac = d.macRequest;
    legacy.push(['MAC', d.macRequest]);
  }
  if (Array.isArray(d.ipRequest) && d.ipRequest.length > 0) caps.ips = d.ipRequest;
  if (typeof d.deviceID === 'string' && d.deviceID !== '') caps.deviceID = d.deviceID;
  return {
    network: typeof d.Name === 'string' && d.Name !== '' ? d.Name : confName,
    ifname,
    isDefault: master,
    confBytes: bytes,
    cniArgs: master ? runtimeArgs : mergeCniArgs(runtimeArgs, [['IgnoreUnknown', 'true'], ...legacy]),
    capabilityArgs: caps,
    state: 'added',
  };
}

function fromLibcni(e: LibcniEntry, runtimeIfname: string): CachedAttachment {
  const att: CachedAttachment = {
    network: e.networkName,
    ifname: e.ifname,
    isDefault: e.ifname === runtimeIfname,
    confBytes: e.config,
    cniArgs: e.cniArgs,
    capabilityArgs: e.capabilityArgs,
    state: 'added',
  };
  if (e.result) att.result = e.result;
  return att;
}

/**
 * Everything Multus left for one container, merged: Multus' file gives the order and display
 * names, libcni's entry (when there is one for the same ifname) the exact bytes, arguments and
 * result. Undefined when Multus left nothing for it.
 */
export function readMultusContainer(
  cniDir: string,
  containerId: string,
  runtimeIfname: string,
  runtimeArgs: [string, string][],
): MultusContainer | undefined {
  const problems: string[] = [];
  const files: string[] = [];
  const delegates: CachedAttachment[] = [];
  const own = path.join(cniDir, containerId);
  if (fs.existsSync(own) && fs.statSync(own).isFile()) {
    files.push(own);
    try {
      const doc = readJson(own);
      if (!Array.isArray(doc)) throw new Error('is not a JSON list of delegates');
      doc.forEach((d, i) => {
        try {
          if (!isObject(d)) throw new Error(`delegate ${i} is not an object`);
          delegates.push(delegateAttachment(d, i, runtimeIfname, runtimeArgs));
        } catch (e) {
          problems.push(`${own}: ${(e as Error).message}`);
        }
      });
    } catch (e) {
      problems.push(`${own}: ${(e as Error).message}`);
    }
  }
  // Unreadable entries go with the rest once the DEL succeeded: nothing can ever use them.
  const broken: string[] = [];
  const libcni = libcniEntries(cniDir, containerId, problems, broken);
  files.push(...libcni.map((e) => e.file), ...broken);
  if (files.length === 0) return undefined;

  const byIfname = new Map(libcni.map((e) => [e.ifname, e]));
  const attachments = delegates.map((d) => {
    const exact = byIfname.get(d.ifname);
    if (!exact) return d;
    byIfname.delete(d.ifname);
    return { ...fromLibcni(exact, runtimeIfname), network: d.network, isDefault: d.isDefault };
  });
  // libcni entries Multus' file does not name (or no file at all): the cluster network first, then by ifname.
  const rest = [...byIfname.values()]
    .map((e) => fromLibcni(e, runtimeIfname))
    .sort(
      (a, b) => Number(b.isDefault) - Number(a.isDefault) || a.ifname.localeCompare(b.ifname, 'en', { numeric: true }),
    );
  attachments.push(...rest);
  const netns = libcni.find((e) => e.netns !== '')?.netns ?? '';
  return { containerId, attachments, netns, files, problems };
}

/** Multus' per-container file is a JSON list; anything else in its cniDir is not one. */
function isDelegateList(file: string): boolean {
  try {
    return Array.isArray(readJson(file));
  } catch {
    return false;
  }
}

/** Containers Multus still holds something for (its per-container files and libcni's entries), for GC and STATUS. */
export function listMultusContainers(cniDir: string): string[] {
  const ids = new Set<string>();
  let names: string[] = [];
  try {
    names = fs
      .readdirSync(cniDir, { withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name);
  } catch {
    // No Multus on this node.
  }
  for (const name of names) if (isDelegateList(path.join(cniDir, name))) ids.add(name);
  for (const e of libcniEntries(cniDir, undefined, [])) ids.add(e.containerId);
  return [...ids].sort();
}

/** Removes the files a MultusContainer was read from. */
export function removeMultusContainer(container: MultusContainer): void {
  for (const file of container.files) fs.rmSync(file, { force: true });
}
