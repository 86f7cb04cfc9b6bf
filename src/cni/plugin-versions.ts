import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { CniCode, CniError } from '../base/errors.ts';
import { execPlugin, hostPathHere, type HostRoot, type SpawnDelegate } from './exec.ts';
import { compareVersions, isKnownVersion, isVersionString } from './versions.ts';

export interface PluginVersionsOptions {
  timeoutMs: number;
  /** Names the plugin in errors; defaults to its path. */
  label?: string;
  /** Directory of the on-disk cache; without it every call runs VERSION. */
  cacheDir?: string;
  /** Base environment of the plugin; defaults to process.env. */
  env?: Record<string, string | undefined>;
  stderr?: NodeJS.WritableStream;
  /** Run the plugin chrooted (braid-agent --host-root); `path` is then the host's. */
  hostRoot?: HostRoot | undefined;
  /** How the plugin is started; undefined: Node's spawn. */
  spawn?: SpawnDelegate | undefined;
}

const CACHE_FILE = 'plugin-versions.json';

interface CacheEntry {
  size: number;
  mtimeMs: number;
  versions: string[];
}

/** Entries already read or learnt by this process, so one request runs VERSION at most once. */
const memory = new Map<string, CacheEntry>();

function fingerprint(path: string): { size: number; mtimeMs: number } | undefined {
  try {
    const st = statSync(path);
    return { size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

function readCache(cacheDir: string): Record<string, CacheEntry> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(cacheDir, CACHE_FILE), 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, CacheEntry>) : {};
  } catch {
    return {};
  }
}

/**
 * mkdir -p without `recursive: true`, which spins forever on some paths (e.g. under /proc in
 * Node 24): bounded by the depth of the path.
 */
function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    ensureDir(dirname(dir));
    mkdirSync(dir, { mode: 0o700 });
  }
}

/** Best effort: a lost update only costs one extra VERSION run later. */
function writeCache(cacheDir: string, path: string, entry: CacheEntry): void {
  try {
    ensureDir(cacheDir);
    const all = readCache(cacheDir);
    all[path] = entry;
    writeFileAtomic(join(cacheDir, CACHE_FILE), JSON.stringify(all), { durable: false });
  } catch {
    // The cache is an optimisation; failing to write it must not fail the request.
  }
}

/** H2: reads VERSION output as libcni's PluginDecoder does. */
export function decodeVersionInfo(stdout: string, label: string): string[] {
  let info: { cniVersion?: unknown; supportedVersions?: unknown };
  try {
    info = JSON.parse(stdout) as typeof info;
  } catch {
    throw new CniError(
      CniCode.DelegateBadOutput,
      `delegate ${label} answered VERSION with something that is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  if (!info || typeof info !== 'object' || typeof info.cniVersion !== 'string' || info.cniVersion === '') {
    throw new CniError(CniCode.DelegateBadOutput, `delegate ${label} answered VERSION without "cniVersion"`);
  }
  const list = info.supportedVersions;
  if (!Array.isArray(list) || list.length === 0) {
    // Plugins older than the supportedVersions field printed only their version.
    if (info.cniVersion === '0.2.0') return ['0.1.0', '0.2.0'];
    throw new CniError(CniCode.DelegateBadOutput, `delegate ${label} answered VERSION without "supportedVersions"`);
  }
  return list.filter((v): v is string => typeof v === 'string');
}

async function queryVersions(path: string, opts: PluginVersionsOptions): Promise<string[]> {
  const label = opts.label ?? path;
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) base[k] = v;
  // libcni fills these with "dummy" because old skels insisted on them even for VERSION.
  const env = { ...base, CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' };
  delete (env as Record<string, string>).CNI_CONTAINERID;
  delete (env as Record<string, string>).CNI_ARGS;
  try {
    const stdout = await execPlugin({
      path,
      env,
      stdin: '{"cniVersion":"1.1.0"}',
      timeoutMs: opts.timeoutMs,
      label,
      hostRoot: opts.hostRoot,
      spawn: opts.spawn,
      ...(opts.stderr ? { stderr: opts.stderr } : {}),
    });
    return decodeVersionInfo(stdout, label);
  } catch (e) {
    // Plugins from before VERSION existed (libcni's GetVersionInfo makes the same guess).
    if (e instanceof CniError && e.message.endsWith('unknown CNI_COMMAND: VERSION')) return ['0.1.0'];
    throw e;
  }
}

/**
 * The CNI versions a plugin binary speaks. Cached per (path, size, mtime), in memory and in
 * `cacheDir`, because plugin start-up dominates a delegate call and the answer only changes
 * when the binary does.
 */
export async function pluginVersions(path: string, opts: PluginVersionsOptions): Promise<string[]> {
  const fp = fingerprint(hostPathHere(opts.hostRoot, path));
  const fresh = (e: CacheEntry | undefined): e is CacheEntry =>
    !!e && !!fp && e.size === fp.size && e.mtimeMs === fp.mtimeMs && Array.isArray(e.versions);
  const inMemory = memory.get(path);
  if (fresh(inMemory)) return [...inMemory.versions];
  if (opts.cacheDir) {
    const onDisk = readCache(opts.cacheDir)[path];
    if (fresh(onDisk)) {
      memory.set(path, onDisk);
      return [...onDisk.versions];
    }
  }
  const versions = await queryVersions(path, opts);
  if (fp) {
    const entry = { ...fp, versions };
    memory.set(path, entry);
    if (opts.cacheDir) writeCache(opts.cacheDir, path, entry);
  }
  return [...versions];
}

/** Forgets what this process learnt (tests replace plugin binaries in place). */
export function clearVersionMemory(): void {
  memory.clear();
}

/**
 * Per-delegate negotiation: the newest version the plugin lists that is not newer than the one
 * wanted and that braid can convert results of. A 1.1.0 request to a 1.0.0-only delegate runs it
 * at 1.0.0; braid converts on the way back.
 */
export function negotiateVersion(wanted: string, supported: readonly string[], plugin = 'plugin'): string {
  const usable = supported
    .filter((v) => isVersionString(v) && isKnownVersion(v) && compareVersions(v, wanted) <= 0)
    .sort(compareVersions);
  const best = usable[usable.length - 1];
  if (best === undefined) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `no common CNI version with ${plugin}: the network wants ${wanted} or older, the plugin supports [${supported.join(' ')}]`,
      `config is "${wanted}", plugin supports [${supported.map((v) => JSON.stringify(v)).join(' ')}]`,
    );
  }
  return best;
}
