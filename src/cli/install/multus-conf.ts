import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { confFiles, readConf } from './primary-conf.ts';
import { PATHS } from '../../base/defaults.ts';

/**
 * The Multus installation `braid install` replaces on a node, as its files show it: Multus' conf
 * in the CNI conf dir (`00-multus.conf`, written by its thin entrypoint or thick daemon: type
 * `multus` or `multus-shim`, possibly a conflist) and the thick daemon's
 * `multus.d/daemon-config.json`, whose keys Multus overlays on the shim's conf per request.
 */
export const MULTUS_TYPES = new Set(['multus', 'multus-shim']);
export const MULTUS_DEFAULT_CNI_DIR = PATHS.multusCacheDir;
export const DAEMON_CONFIG_SUBPATH = join('multus.d', 'daemon-config.json');

export interface MultusInstallation {
  /** Multus' conf file in the conf dir, if any. */
  confFile?: string;
  /** Multus' own keys (the multus plugin of a conflist), daemon-config.json overlaid. */
  conf: Record<string, unknown>;
  daemonConfig?: Record<string, unknown>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function multusSection(doc: Record<string, unknown>): Record<string, unknown> | undefined {
  if (MULTUS_TYPES.has(String(doc.type))) return doc;
  if (!Array.isArray(doc.plugins)) return undefined;
  const plugin = doc.plugins.find((p) => isObject(p) && MULTUS_TYPES.has(String(p.type)));
  if (!isObject(plugin)) return undefined;
  return { ...plugin, name: doc.name, cniVersion: doc.cniVersion };
}

function readDaemonConfig(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const doc: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isObject(doc) ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** Multus' conf and daemon config in `confDir`; undefined when neither is there. */
export function findMultus(
  confDir: string,
  daemonConfigPath = join(confDir, DAEMON_CONFIG_SUBPATH),
): MultusInstallation | undefined {
  let confFile: string | undefined;
  let section: Record<string, unknown> | undefined;
  let names: string[] = [];
  try {
    names = confFiles(confDir);
  } catch {
    // No conf dir: maybe a daemon config alone.
  }
  for (const name of names) {
    const doc = readConf(join(confDir, name));
    section = doc ? multusSection(doc) : undefined;
    if (section) {
      confFile = name;
      break;
    }
  }
  const daemonConfig = readDaemonConfig(daemonConfigPath);
  if (!section && !daemonConfig) return undefined;
  const found: MultusInstallation = { conf: { ...section, ...daemonConfig } };
  if (confFile) found.confFile = confFile;
  if (daemonConfig) found.daemonConfig = daemonConfig;
  return found;
}

/** Multus' cniDir on this node: its conf's (or daemon config's) `cniDir`, else Multus' default; undefined without Multus. */
export function multusCniDir(confDir: string): string | undefined {
  const found = findMultus(confDir);
  if (!found) return undefined;
  const dir = found.conf.cniDir;
  return typeof dir === 'string' && dir !== '' ? dir : MULTUS_DEFAULT_CNI_DIR;
}
