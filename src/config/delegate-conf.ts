import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  injectName,
  isSinglePluginConf,
  networkConfigFromObject,
  parseCniBool,
  parseNetworkConfig,
} from '../cni/conflist.ts';
import { CniCode, CniError, asCniError } from '../base/errors.ts';
import type { NetworkConfigList } from '../cni/netconf.ts';
import type { NadSource } from '../k8s/sources.ts';
import type { Leniency } from '../base/leniency.ts';
import { ANNOTATION_RESOURCE_NAME, type NetworkAttachmentDefinition } from '../k8s/types.ts';

const CONF_EXTENSIONS = ['.conf', '.json', '.conflist'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes accepts any DNS-1123 subdomain as a NAD name; NPWG 3.3 asks for labels. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalid(message: string): CniError {
  return new CniError(CniCode.InvalidConfig, message);
}

function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Sorted configuration file names of a directory; a missing directory has none. */
function confFileNames(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') return [];
    throw new CniError(CniCode.IoFailure, `cannot list configuration directory ${dir}: ${(e as Error).message}`);
  }
  return names.filter((n) => CONF_EXTENSIONS.some((ext) => n.endsWith(ext))).sort();
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = errorCode(e) === 'ENOENT' ? CniCode.InvalidConfig : CniCode.IoFailure;
    throw new CniError(code, `cannot read network configuration ${path}: ${(e as Error).message}`);
  }
}

/**
 * Plugins a conflist file gets from `<its dir>/<network name>/*.conf` unless
 * `loadOnlyInlinedPlugins` is true (cni-spec I4, libcni NetworkConfFromFile).
 */
function directoryPlugins(path: string, doc: Record<string, unknown>): Record<string, unknown>[] {
  if (isSinglePluginConf(doc) || typeof doc.name !== 'string' || doc.name === '') return [];
  if (parseCniBool(doc.loadOnlyInlinedPlugins, path, 'loadOnlyInlinedPlugins')) return [];
  const dir = join(dirname(path), doc.name);
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.conf'))
      .sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const file = join(dir, n);
    try {
      return JSON.parse(readText(file)) as Record<string, unknown>;
    } catch (e) {
      throw invalid(`${file}: is not valid JSON: ${(e as Error).message}`);
    }
  });
}

/** Loads one `.conf`/`.json`/`.conflist` file; errors name the file and the field. */
export function loadConfFile(path: string): NetworkConfigList {
  const bytes = readText(path);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes);
  } catch (e) {
    throw invalid(`${path}: is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    const extra = directoryPlugins(path, doc as Record<string, unknown>);
    if (extra.length > 0) {
      // The delegates must see the plugins they run, so these bytes are re-serialized.
      const merged = {
        ...doc,
        plugins: [...(((doc as Record<string, unknown>).plugins as unknown[]) ?? []), ...extra],
      };
      return networkConfigFromObject(merged, JSON.stringify(merged), path);
    }
  }
  return networkConfigFromObject(doc, bytes, path);
}

interface ConfDirScan {
  match?: NetworkConfigList;
  /** Files that could not be read or parsed, with the reason; reported only when nothing matched. */
  unreadable: string[];
}

function scanForName(confDir: string, name: string): ConfDirScan {
  const names = confFileNames(confDir);
  // NPWG 3.4.1: a .conflist with that name first, then a .conf (or .json).
  const ordered = [...names.filter((n) => n.endsWith('.conflist')), ...names.filter((n) => !n.endsWith('.conflist'))];
  const unreadable: string[] = [];
  for (const file of ordered) {
    const path = join(confDir, file);
    try {
      const list = loadConfFile(path);
      if (list.name === name) return { match: list, unreadable };
    } catch (e) {
      unreadable.push(asCniError(e).message);
    }
  }
  return { unreadable };
}

/** The first configuration file in confDir whose CNI `name` is `name` (conflists first). */
export function findConfByName(confDir: string, name: string): NetworkConfigList | undefined {
  return scanForName(confDir, name).match;
}

function unreadableNote(unreadable: string[]): string {
  return unreadable.length > 0 ? `; files that could not be read: ${unreadable.join('; ')}` : '';
}

/**
 * The delegate configuration of a NAD in NPWG 3.4.1 order: `spec.config` (a conf or conflist,
 * the NAD's name injected when it has none), else the file in confDir with that CNI name.
 */
export function networkConfigFromNad(nad: NetworkAttachmentDefinition, confDir: string): NetworkConfigList {
  const name = nad.metadata.name;
  const display = `NAD ${nad.metadata.namespace ?? 'default'}/${name}`;
  const config = nad.spec?.config;
  if (typeof config === 'string' && config.trim() !== '') {
    return parseNetworkConfig(injectName(config, name), display);
  }
  const scan = scanForName(confDir, name);
  if (scan.match) return scan.match;
  throw invalid(
    `${display} has no spec.config and no file in ${confDir} has name ${JSON.stringify(name)}` +
      unreadableNote(scan.unreadable),
  );
}

export interface ReferenceContext {
  confDir: string;
  /** Where NADs come from; absent when braid has no NAD source. */
  nadSource?: NadSource | undefined;
  /** multusNamespace: the namespace of a reference without one. */
  namespace: string;
  /** The conf key the reference comes from, for messages: "clusterNetwork", "defaultNetworks[1]". */
  key?: string;
  /** Dotted NAD names (legal in Kubernetes, not NPWG): looked up with a warning, as Multus does; never when strict. */
  lenient?: Leniency;
}

export interface ResolvedReference {
  /** Display name: `ns/name` for a NAD, else the CNI network name of the file. */
  network: string;
  list: NetworkConfigList;
  /** The NAD's device-plugin resource (k8s.v1.cni.cncf.io/resourceName), when it names one. */
  resourceName?: string;
}

function nadReference(
  ref: string,
  namespace: string,
  dotted: boolean,
): { namespace: string; name: string } | undefined {
  const name = dotted ? DNS_SUBDOMAIN : DNS_LABEL;
  const parts = ref.split('/');
  if (parts.length === 1 && name.test(ref)) return { namespace, name: ref };
  if (parts.length === 2 && DNS_LABEL.test(parts[0]!) && name.test(parts[1]!)) {
    return { namespace: parts[0]!, name: parts[1]! };
  }
  return undefined;
}

function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

async function resolveReference(ref: string, ctx: ReferenceContext): Promise<ResolvedReference> {
  const notes: string[] = [];
  const nadRef = nadReference(ref, ctx.namespace, ctx.lenient !== undefined && !ctx.lenient.strict);
  if (nadRef && ctx.nadSource) {
    let nad: NetworkAttachmentDefinition | undefined;
    try {
      nad = await ctx.nadSource.getNad(nadRef.namespace, nadRef.name);
    } catch (e) {
      // Like Multus, a failing NAD source does not stop the file-based options.
      notes.push(`NAD lookup in ${ctx.nadSource.kind} failed: ${asCniError(e).message}`);
    }
    if (nad) {
      if (nadRef.name.includes('.')) {
        ctx.lenient?.accept(
          ctx.key ?? 'network reference',
          `NAD name ${JSON.stringify(nadRef.name)} is not a DNS-1123 label (NPWG 3.3)`,
          'resolved as the NAD it names',
        );
      }
      const found: ResolvedReference = {
        network: `${nadRef.namespace}/${nadRef.name}`,
        list: networkConfigFromNad(nad, ctx.confDir),
      };
      const resourceName = nad.metadata.annotations?.[ANNOTATION_RESOURCE_NAME];
      if (resourceName) found.resourceName = resourceName;
      return found;
    }
    if (notes.length === 0) notes.push(`no NAD ${nadRef.namespace}/${nadRef.name} in ${ctx.nadSource.kind}`);
  }
  if (!ref.includes('/')) {
    const scan = scanForName(ctx.confDir, ref);
    if (scan.match) return { network: scan.match.name, list: scan.match };
    notes.push(`no file in ${ctx.confDir} has name ${JSON.stringify(ref)}${unreadableNote(scan.unreadable)}`);
  }
  const stat = statOf(ref);
  if (stat?.isDirectory()) {
    const first = confFileNames(ref)[0];
    if (!first) throw invalid(`directory ${ref} has no .conf, .json or .conflist file`);
    const list = loadConfFile(join(ref, first));
    return { network: list.name, list };
  }
  if (stat?.isFile()) {
    const list = loadConfFile(ref);
    return { network: list.name, list };
  }
  notes.push('it is not a file or directory either');
  throw invalid(`not found: ${notes.join('; ')}`);
}

/**
 * Resolves a `clusterNetwork` or `defaultNetworks` entry the way Multus does (k8sclient.go
 * getNetDelegate): a NAD in multusNamespace (`name` or `ns/name`), a CNI network name in confDir,
 * a directory (its alphabetically first configuration file), or a file path. Errors start with
 * the key and the reference.
 */
export async function resolveNetworkReference(ref: string, ctx: ReferenceContext): Promise<ResolvedReference> {
  try {
    return await resolveReference(ref, ctx);
  } catch (e) {
    const err = asCniError(e);
    throw new CniError(
      err.code,
      `${ctx.key ?? 'network reference'} ${JSON.stringify(ref)}: ${err.message}`,
      err.details,
    );
  }
}

/**
 * braid conf `delegates[index]` as a list: the conf's cniVersion is filled in when the delegate
 * has none, as Multus does for its inline delegates.
 */
export function inlineDelegate(
  delegate: Record<string, unknown>,
  cniVersion: string,
  index: number,
): NetworkConfigList {
  const withVersion = delegate.cniVersion === undefined && cniVersion !== '' ? { cniVersion, ...delegate } : delegate;
  return parseNetworkConfig(JSON.stringify(withVersion), `braid conf delegates[${index}]`);
}

/**
 * Multus' `auxiliaryCNIChainName` (v4.2.1+): a conflist named `name` whose first plugin is
 * `passthru` (it hands the cluster interface on as prevResult), with the plugins of
 * `<dir of clusterNetwork>/<name>/*.conf` after it, as libcni loads a conflist's directory plugins.
 */
export function auxiliaryChain(clusterNetworkPath: string, name: string, cniVersion: string): NetworkConfigList {
  const dir = join(dirname(clusterNetworkPath), name);
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.conf'))
      .sort();
  } catch (e) {
    throw invalid(`auxiliaryCNIChainName ${JSON.stringify(name)}: cannot list ${dir}: ${(e as Error).message}`);
  }
  const plugins = names.map((n) => {
    const file = join(dir, n);
    try {
      return JSON.parse(readText(file)) as Record<string, unknown>;
    } catch (e) {
      throw invalid(`auxiliaryCNIChainName ${JSON.stringify(name)}: ${file}: ${asCniError(e).message}`);
    }
  });
  const doc = { cniVersion, name, plugins: [{ type: 'passthru' }, ...plugins] };
  return networkConfigFromObject(doc, JSON.stringify(doc), `auxiliaryCNIChainName ${JSON.stringify(name)} (${dir})`);
}
