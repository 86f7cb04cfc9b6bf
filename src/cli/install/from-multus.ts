import { join } from 'node:path';
import { CniCode, CniError } from '../../base/errors.ts';
import { findMultus, MULTUS_DEFAULT_CNI_DIR, type MultusInstallation } from './multus-conf.ts';
import { braidConf, findPrimaryConf } from './primary-conf.ts';

/**
 * `braid install --from-multus`: Multus' `00-multus.conf` (thin: NetConf keys; thick: the shim's)
 * and the thick daemon's `daemon-config.json` (overlaid on it, as Multus does per request)
 * translated into braid's conf keys. Every key is either carried over (same meaning in braid),
 * renamed, or reported with what to do instead; nothing is silently dropped.
 */

/** Multus NetConf keys braid reads with the same meaning (multus-compat.md section 1). */
const SAME = [
  'confDir',
  'binDir',
  'defaultNetworks',
  'delegates',
  'multusNamespace',
  'systemNamespaces',
  'namespaceIsolation',
  'globalNamespaces',
  'readinessindicatorfile',
  'logFile',
  'logLevel',
  'logToStderr',
  'logOptions',
  'capabilities',
  'retryDeleteOnError',
  'auxiliaryCNIChainName',
  'runtimeConfig',
];

/** Keys with no braid conf counterpart, and where their job went. */
const ELSEWHERE: Record<string, string> = {
  type: 'braid\'s conf has type "braid"',
  name: 'braid install --network-name',
  cniVersion: "taken from the primary network's conf",
  prevResult: 'runtime input, not configuration',
  chrootDir: 'braid-agent runs delegates in the host root it is given (its DaemonSet mounts)',
  socketDir: "braid-agent --socket (serves Multus' daemon API on it too)",
  daemonSocketDir: "braid-agent --socket (serves Multus' daemon API on it too)",
  metricsPort: 'braid-agent --metrics-address',
  enablePprof: 'no counterpart',
  connectionLimit: 'braid-agent --max-concurrent (bounded by default)',
  perNodeCertificate: 'no counterpart: braid uses the service account token or --kubeconfig',
  cniConfigDir: 'braid install --conf-dir',
  multusConfigFile: "braid install generates braid's conf (--conf-name)",
  multusAutoconfigDir: 'braid install --conf-dir',
  multusMasterCNI: 'braid install --primary',
  forceCNIVersion: "braid's conf takes the primary network's cniVersion",
  overrideNetworkName: 'braid install --network-name',
  cniConf: 'ignored by Multus too',
  kubeconfig:
    'braid install writes braid.d/braid.kubeconfig from its service account (or set kubeconfig with --conf-template)',
};

export interface Unmapped {
  key: string;
  value: unknown;
  note: string;
}

export interface Translation {
  /** braid conf keys (the plugin object of braid's conflist). */
  keys: Record<string, unknown>;
  unmapped: Unmapped[];
}

export function translateMultus(found: MultusInstallation): Translation {
  const keys: Record<string, unknown> = {};
  const unmapped: Unmapped[] = [];
  for (const [key, value] of Object.entries(found.conf)) {
    if (SAME.includes(key)) keys[key] = value;
    // A NAD or network name means the same to braid; a path is where Multus (in its container) saw
    // the primary's conf, and braid names the primary as the host sees it.
    else if (key === 'clusterNetwork' && typeof value === 'string' && !value.includes('/')) keys[key] = value;
    else if (key === 'clusterNetwork')
      unmapped.push({ key, value, note: "braid install names the primary network's conf itself (--primary)" });
    else if (key === 'cniDir') keys.multusCniDir = value;
    else unmapped.push({ key, value, note: ELSEWHERE[key] ?? 'unknown to braid' });
  }
  // Multus' pods are taken over from its cache: braid must know where it is even when Multus used the default.
  if (keys.multusCniDir === undefined) keys.multusCniDir = MULTUS_DEFAULT_CNI_DIR;
  return { keys, unmapped };
}

export interface FromMultusOptions {
  confDir: string;
  hostConfDir: string;
  daemonConfig?: string | undefined;
  primary?: string | undefined;
  networkName: string;
  kubeconfig?: string | undefined;
  /** --conf-template keys, over the translated ones. */
  extra: Record<string, unknown>;
}

/** The translated keys for `braid install` (fails naming the paths when there is no Multus). */
export function multusKeys(opts: Pick<FromMultusOptions, 'confDir' | 'daemonConfig'>): Translation {
  const found = findMultus(opts.confDir, opts.daemonConfig);
  if (!found) {
    throw new CniError(
      CniCode.InvalidConfig,
      `--from-multus: no Multus conf (type multus or multus-shim) in ${opts.confDir} and no ${opts.daemonConfig ?? join(opts.confDir, 'multus.d', 'daemon-config.json')}`,
    );
  }
  return translateMultus(found);
}

/** What a dry run prints: braid's conf as it would be written, then each key not carried over. */
export function dryRunReport(opts: FromMultusOptions): string {
  const { keys, unmapped } = multusKeys(opts);
  const primary = findPrimaryConf(opts.confDir, opts.primary);
  if (!primary)
    throw new CniError(
      CniCode.InvalidConfig,
      `--dry-run: no primary network conf in ${opts.confDir}; name it with --primary`,
    );
  const conf = braidConf({
    primary,
    hostConfDir: opts.hostConfDir,
    networkName: opts.networkName,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    extra: { ...keys, ...opts.extra },
  });
  const lines = [
    `# braid conf (${primary.file} as the primary network), not written (--dry-run):`,
    JSON.stringify(conf, null, 2),
  ];
  lines.push(unmapped.length === 0 ? '# every Multus key was carried over' : '# Multus keys not carried over:');
  for (const u of unmapped) lines.push(`#   ${u.key} = ${JSON.stringify(u.value)}: ${u.note}`);
  return `${lines.join('\n')}\n`;
}
