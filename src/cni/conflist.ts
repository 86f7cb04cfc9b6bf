import { CniCode, CniError } from '../base/errors.ts';
import type { NetworkConfigList, PluginConf } from './netconf.ts';
import { compareVersions, isVersionString } from './versions.ts';

/** Network names as libcni accepts them (cni-spec A3/A5). */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The newest spec version braid implements; newer entries of `cniVersions` are skipped (I2). */
const NEWEST_VERSION = '1.1.0';

/** An absent cniVersion means 0.1.0 to every plugin (cni-spec K6). */
const IMPLIED_VERSION = '0.1.0';

function invalid(source: string, problem: string): CniError {
  return new CniError(CniCode.InvalidConfig, `${source}: ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A `.conf` has a top-level `type`; everything else is a conflist (Multus conf.go, libcni). */
export function isSinglePluginConf(doc: Record<string, unknown>): boolean {
  return 'type' in doc;
}

/** CNI booleans: JSON true/false or the strings "true"/"false" in any case (I3). */
export function parseCniBool(value: unknown, source: string, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  throw invalid(source, `"${field}" must be true or false (got ${JSON.stringify(value)})`);
}

/** `prefix` is "plugins[i]." for a conflist entry and "" for a `.conf`. */
function checkPluginType(plugin: unknown, source: string, prefix: string): PluginConf {
  if (!isObject(plugin))
    throw invalid(source, `"${prefix.slice(0, -1)}" must be an object (got ${JSON.stringify(plugin)})`);
  const type = plugin.type;
  if (typeof type !== 'string' || type === '') {
    throw invalid(source, `"${prefix}type" must be a non-empty plugin name (got ${JSON.stringify(type)})`);
  }
  if (type.includes('/') || type.includes('\\')) {
    throw invalid(source, `"${prefix}type" must be a plugin name without "/" or "\\" (got ${JSON.stringify(type)})`);
  }
  return plugin as PluginConf;
}

function checkVersion(v: unknown, source: string, field: string): string {
  if (!isVersionString(v)) {
    throw invalid(source, `"${field}" must be a version like "1.0.0" (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** max(cniVersion ∪ cniVersions), skipping versions newer than braid implements (I2). */
function listVersion(doc: Record<string, unknown>, source: string): string {
  const candidates: string[] = [];
  if (doc.cniVersion !== undefined && doc.cniVersion !== '')
    candidates.push(checkVersion(doc.cniVersion, source, 'cniVersion'));
  if (doc.cniVersions !== undefined) {
    if (!Array.isArray(doc.cniVersions)) {
      throw invalid(source, `"cniVersions" must be a list of versions (got ${JSON.stringify(doc.cniVersions)})`);
    }
    doc.cniVersions.forEach((v, i) => candidates.push(checkVersion(v, source, `cniVersions[${i}]`)));
  }
  if (candidates.length === 0) return IMPLIED_VERSION;
  const usable = candidates.filter((v) => compareVersions(v, NEWEST_VERSION) <= 0);
  if (usable.length === 0) {
    throw invalid(
      source,
      `"cniVersion" ${candidates.join(', ')} is newer than ${NEWEST_VERSION}, the newest braid supports`,
    );
  }
  return usable.reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
}

function checkName(doc: Record<string, unknown>, source: string): string {
  const name = doc.name;
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw invalid(
      source,
      `"name" must start with a letter or digit and contain only letters, digits, "_", "." and "-" (got ${JSON.stringify(name)})`,
    );
  }
  return name;
}

/** Builds the list from an already-parsed document; `bytes` must be the text it was parsed from. */
export function networkConfigFromObject(doc: unknown, bytes: string, source: string): NetworkConfigList {
  if (!isObject(doc)) throw invalid(source, `must be a JSON object (got ${JSON.stringify(doc)?.slice(0, 40)})`);
  const name = checkName(doc, source);
  const cniVersion = listVersion(doc, source);
  if (isSinglePluginConf(doc)) {
    return {
      cniVersion,
      name,
      disableCheck: false,
      disableGC: false,
      plugins: [checkPluginType(doc, source, '')],
      bytes,
    };
  }
  const disableCheck = parseCniBool(doc.disableCheck, source, 'disableCheck');
  const disableGC = parseCniBool(doc.disableGC, source, 'disableGC');
  parseCniBool(doc.loadOnlyInlinedPlugins, source, 'loadOnlyInlinedPlugins');
  if (!Array.isArray(doc.plugins)) {
    throw invalid(source, `has no "type" (a .conf) and no "plugins" list (a .conflist)`);
  }
  if (doc.plugins.length === 0) throw invalid(source, `"plugins" must not be empty`);
  const plugins = doc.plugins.map((p, i) => checkPluginType(p, source, `plugins[${i}].`));
  return { cniVersion, name, disableCheck, disableGC, plugins, bytes };
}

/**
 * Parses a `.conf` (one plugin) or a `.conflist` into a list. `source` names where the bytes came
 * from (a file path, "NAD ns/name") and starts every error message; `bytes` are kept exactly.
 */
export function parseNetworkConfig(bytes: string, source: string): NetworkConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes);
  } catch (e) {
    throw invalid(source, `is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return networkConfigFromObject(doc, bytes, source);
}

/**
 * NPWG 3.4.2: a configuration without `name` gets the NAD's name. The key is inserted as text
 * right after the opening brace so that every other byte stays as the user wrote it; anything
 * that is not a JSON object, or already has a `name`, comes back unchanged.
 */
export function injectName(bytes: string, name: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes);
  } catch {
    return bytes;
  }
  if (!isObject(doc) || 'name' in doc) return bytes;
  const brace = bytes.indexOf('{');
  const rest = bytes.slice(brace + 1);
  const separator = /^\s*}/.test(rest) ? '' : ',';
  return `${bytes.slice(0, brace + 1)}"name":${JSON.stringify(name)}${separator}${rest}`;
}
