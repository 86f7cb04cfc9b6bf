import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../../base/errors.ts';
import { CAPABILITY_POD_ANNOTATIONS } from '../../k8s/types.ts';

/**
 * braid's conf generated from the node's existing primary network conf, as Multus' auto mode
 * does it: the primary is the lexically first .conf/.conflist/.json in the conf directory that
 * is not a meta plugin's (braid's own, or Multus' when braid replaces it); braid's conf carries
 * over its cniVersion and the capabilities its plugins declare (so the runtime keeps passing
 * port mappings, bandwidth, ...), and names it as the cluster network by path, so that changes
 * to it apply to the next pod at once. braid adds the pod-annotations capability.
 */
export const CONF_EXTENSIONS = ['.conf', '.conflist', '.json'];
const META_TYPES = new Set(['braid', 'multus', 'multus-shim']);

export interface PrimaryConf {
  /** File name inside the conf directory. */
  file: string;
  cniVersion: string;
  name: string;
  /** Capabilities any of its plugins declares. */
  capabilities: Record<string, boolean>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function confFiles(confDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(confDir);
  } catch (e) {
    throw new CniError(
      CniCode.IoFailure,
      `cannot read the CNI conf directory ${confDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return names.filter((n) => CONF_EXTENSIONS.some((ext) => n.endsWith(ext))).sort();
}

function pluginsOf(doc: Record<string, unknown>): Record<string, unknown>[] {
  return Array.isArray(doc.plugins) ? doc.plugins.filter(isObject) : [doc];
}

/** The parsed conf, or undefined when the file is unreadable or not a CNI conf (skipped, as libcni does). */
export function readConf(path: string): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isObject(doc) && (typeof doc.type === 'string' || Array.isArray(doc.plugins)) ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** The primary conf in `confDir`: `explicit` (a file name) when given, else the first that is not a meta plugin's. */
export function findPrimaryConf(confDir: string, explicit?: string): PrimaryConf | undefined {
  const candidates = explicit ? [explicit] : confFiles(confDir);
  for (const file of candidates) {
    const doc = readConf(join(confDir, file));
    if (!doc) {
      if (explicit)
        throw new CniError(
          CniCode.InvalidConfig,
          `primary conf ${join(confDir, file)} is missing or not a CNI conf or conflist`,
        );
      continue;
    }
    const plugins = pluginsOf(doc);
    if (!explicit && plugins.some((p) => META_TYPES.has(String(p.type)))) continue;
    const capabilities: Record<string, boolean> = {};
    for (const p of plugins) {
      if (!isObject(p.capabilities)) continue;
      for (const [k, v] of Object.entries(p.capabilities)) if (v === true) capabilities[k] = true;
    }
    return {
      file,
      cniVersion: typeof doc.cniVersion === 'string' ? doc.cniVersion : '0.3.1',
      name: typeof doc.name === 'string' ? doc.name : file,
      capabilities,
    };
  }
  return undefined;
}

export interface BraidConfInputs {
  primary: PrimaryConf;
  /** The conf directory as the host (kubelet, the runtime) sees it. */
  hostConfDir: string;
  networkName: string;
  /** Host path of the kubeconfig braid reads, if any. */
  kubeconfig?: string;
  /** braid keys from the ConfigMap, merged over the generated ones. */
  extra?: Record<string, unknown>;
}

/** braid's conflist: one braid plugin with the primary as its cluster network. */
export function braidConf(inputs: BraidConfInputs): Record<string, unknown> {
  const { type: _ignored, ...extra } = inputs.extra ?? {};
  const plugin: Record<string, unknown> = {
    type: 'braid',
    clusterNetwork: join(inputs.hostConfDir, inputs.primary.file),
    ...(inputs.kubeconfig ? { kubeconfig: inputs.kubeconfig } : {}),
    ...extra,
  };
  // braid's own: containerd and CRI-O then send the pod's annotations with each ADD (no API GET).
  plugin.capabilities = { ...inputs.primary.capabilities, [CAPABILITY_POD_ANNOTATIONS]: true };
  return { cniVersion: inputs.primary.cniVersion, name: inputs.networkName, plugins: [plugin] };
}

/**
 * Checks that `confName` is what the runtime picks: the lexically first conf file. Returns the
 * file that would win instead, if any.
 */
export function fileBefore(confDir: string, confName: string): string | undefined {
  return confFiles(confDir).find((f) => f !== confName && f < confName);
}
