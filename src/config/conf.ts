import { CniCode, CniError } from '../base/errors.ts';
import type { PluginConf } from '../cni/netconf.ts';
import { validateBraidConf } from '../generated/validators.js';
import { leniency, type CompatWarning } from '../base/leniency.ts';
import { schemaErrorMessage } from '../base/schema-errors.ts';
import type { BraidConf, LogLevel, LogOptions, PolicyConf } from './types.ts';
import { LIMITS, PATHS } from '../base/defaults.ts';

/**
 * Defaults: Multus' where Multus has the key (multus-compat.md section 1), with two deliberate
 * differences. `cniDir` is braid's own directory so that braid and a Multus being replaced never
 * share a cache. `retryDeleteOnError` is on: when a delegate's DEL fails the cache is kept, so the
 * runtime's retry can still release the addresses (Multus #355, #948), instead of leaking them.
 */
export const CONF_DEFAULTS = {
  confDir: PATHS.multusConfDir,
  cniDir: PATHS.cacheDir,
  multusCniDir: PATHS.multusCacheDir,
  binDir: PATHS.binDir,
  multusNamespace: 'kube-system',
  systemNamespaces: ['kube-system'],
  globalNamespaces: ['default'],
  logLevel: 'panic' as LogLevel,
  logToStderr: true,
  logOptions: { maxAge: 5, maxSize: 100, maxBackups: 5, compress: true },
  retryDeleteOnError: true,
  parallelAttachments: false,
  delegateTimeoutSeconds: LIMITS.delegateTimeoutSeconds,
  apiTimeoutSeconds: LIMITS.apiTimeoutSeconds,
  apiRetries: LIMITS.apiRetries,
  readinessTimeoutSeconds: LIMITS.readinessTimeoutSeconds,
  podDir: PATHS.podDir,
  nadDir: PATHS.nadDir,
  agentSocket: PATHS.agentSocket,
  deviceInfoDir: PATHS.deviceInfoDir,
  policy: {
    enabled: true,
    bpfRoot: PATHS.bpfRoot,
    policyDir: PATHS.policyDir,
    allowDhcp: false,
    allowMld: true,
  },
} as const;

const BRAID_TYPE = 'braid';
const LOG_LEVELS: string[] = ['panic', 'error', 'verbose', 'debug'];

function invalid(message: string): CniError {
  return new CniError(CniCode.InvalidConfig, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The object braid's keys are read from: the conf itself, or, when braid runs as a plugin of a
 * conflist, the braid plugin (type "braid", else the first) with the list's name and cniVersion.
 */
function braidSection(stdin: Record<string, unknown>): Record<string, unknown> {
  if ('type' in stdin || !Array.isArray(stdin.plugins)) return stdin;
  const plugins = stdin.plugins.filter(isObject);
  const plugin = plugins.find((p) => p.type === BRAID_TYPE) ?? plugins[0];
  if (!plugin) throw invalid("braid conf: the conflist has no plugin object to read braid's keys from");
  const merged: Record<string, unknown> = { ...plugin };
  if (stdin.name !== undefined) merged.name = stdin.name;
  if (stdin.cniVersion !== undefined) merged.cniVersion = stdin.cniVersion;
  // The runtime puts runtimeConfig and args on the plugin it builds; keep the list's if present.
  for (const key of ['runtimeConfig', 'args', 'prevResult']) {
    if (merged[key] === undefined && stdin[key] !== undefined) merged[key] = stdin[key];
  }
  return merged;
}

/** Multus' `globalNamespaces` is "a,b,c"; braid also takes a list. Empty means ["default"]. */
function globalNamespaces(value: unknown): string[] {
  const list = Array.isArray(value)
    ? (value as string[])
    : typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : [];
  return list.length > 0 ? list : [...CONF_DEFAULTS.globalNamespaces];
}

function cacheDirectory(conf: Record<string, unknown>): string {
  const { cniDir, cacheDir } = conf;
  if (typeof cniDir === 'string' && typeof cacheDir === 'string' && cniDir !== cacheDir) {
    throw invalid(
      `braid conf: "cniDir" (${JSON.stringify(cniDir)}) and its alias "cacheDir" (${JSON.stringify(cacheDir)}) differ; set one of them`,
    );
  }
  return (cniDir ?? cacheDir ?? CONF_DEFAULTS.cniDir) as string;
}

/** Multus' defaults for the keys `logOptions` leaves out; a `maxSize` of 0 is lumberjack's default too. */
function logOptions(value: Partial<LogOptions> | undefined): LogOptions {
  const options = { ...CONF_DEFAULTS.logOptions, ...value };
  if (options.maxSize === 0) options.maxSize = CONF_DEFAULTS.logOptions.maxSize;
  return options;
}

/**
 * Validates and completes braid's configuration from the parsed stdin of a request. Every error
 * is code 7 and names the key.
 */
export function loadBraidConf(stdinConfig: Record<string, unknown>): BraidConf {
  const section = braidSection(stdinConfig);
  // Multus matches log levels case-insensitively, and warns about one it does not know and keeps its default.
  const conf =
    typeof section.logLevel === 'string' ? { ...section, logLevel: section.logLevel.toLowerCase() } : section;
  const compatWarnings: CompatWarning[] = [];
  if (typeof conf.logLevel === 'string' && !LOG_LEVELS.includes(conf.logLevel) && conf.strict !== true) {
    leniency(false, compatWarnings).accept(
      'logLevel',
      `${JSON.stringify(conf.logLevel)} is not a level`,
      `ignored: the level stays ${CONF_DEFAULTS.logLevel}`,
    );
    delete conf.logLevel;
  }
  if (!validateBraidConf(conf)) {
    throw invalid(schemaErrorMessage('braid conf', validateBraidConf.errors, conf));
  }

  const delegates = (conf.delegates ?? []) as PluginConf[];
  const clusterNetwork = conf.clusterNetwork as string | undefined;
  if (clusterNetwork === undefined && delegates.length === 0) {
    throw invalid(
      'braid conf: set "clusterNetwork" (a NAD name, CNI network name, directory or file) or a non-empty "delegates" list; neither is present',
    );
  }

  const out: BraidConf = {
    cniVersion: typeof conf.cniVersion === 'string' ? conf.cniVersion : '',
    name: conf.name as string,
    type: conf.type as string,
    defaultNetworks: (conf.defaultNetworks as string[] | undefined) ?? [],
    delegates,
    systemNamespaces: (conf.systemNamespaces as string[] | undefined) ?? [...CONF_DEFAULTS.systemNamespaces],
    namespaceIsolation: (conf.namespaceIsolation as boolean | undefined) ?? false,
    globalNamespaces: globalNamespaces(conf.globalNamespaces),
    multusNamespace: (conf.multusNamespace as string | undefined) ?? CONF_DEFAULTS.multusNamespace,
    confDir: (conf.confDir as string | undefined) ?? CONF_DEFAULTS.confDir,
    cniDir: cacheDirectory(conf),
    multusCniDir: (conf.multusCniDir as string | undefined) ?? CONF_DEFAULTS.multusCniDir,
    binDir: (conf.binDir as string | undefined) ?? CONF_DEFAULTS.binDir,
    logLevel: (conf.logLevel as LogLevel | undefined) ?? CONF_DEFAULTS.logLevel,
    logToStderr: (conf.logToStderr as boolean | undefined) ?? CONF_DEFAULTS.logToStderr,
    logOptions: logOptions(conf.logOptions as Partial<LogOptions> | undefined),
    capabilities: (conf.capabilities as Record<string, boolean> | undefined) ?? {},
    runtimeConfig: (conf.runtimeConfig as Record<string, unknown> | undefined) ?? {},
    retryDeleteOnError: (conf.retryDeleteOnError as boolean | undefined) ?? CONF_DEFAULTS.retryDeleteOnError,
    parallelAttachments: (conf.parallelAttachments as boolean | undefined) ?? CONF_DEFAULTS.parallelAttachments,
    strict: (conf.strict as boolean | undefined) ?? false,
    compatWarnings,
    podDir: (conf.podDir as string | undefined) ?? CONF_DEFAULTS.podDir,
    nadDir: (conf.nadDir as string | undefined) ?? CONF_DEFAULTS.nadDir,
    delegateTimeoutMs: ((conf.delegateTimeout as number | undefined) ?? CONF_DEFAULTS.delegateTimeoutSeconds) * 1000,
    apiTimeoutMs: ((conf.apiTimeout as number | undefined) ?? CONF_DEFAULTS.apiTimeoutSeconds) * 1000,
    apiRetries: (conf.apiRetries as number | undefined) ?? CONF_DEFAULTS.apiRetries,
    readinessTimeoutMs: ((conf.readinessTimeout as number | undefined) ?? CONF_DEFAULTS.readinessTimeoutSeconds) * 1000,
    agentSocket: (conf.agentSocket as string | undefined) ?? CONF_DEFAULTS.agentSocket,
    deviceInfoDir: (conf.deviceInfoDir as string | undefined) ?? CONF_DEFAULTS.deviceInfoDir,
    policy: { ...CONF_DEFAULTS.policy, ...(conf.policy as Partial<PolicyConf> | undefined) },
    raw: conf,
  };
  if (clusterNetwork !== undefined) out.clusterNetwork = clusterNetwork;
  for (const key of [
    'kubeconfig',
    'readinessindicatorfile',
    'logFile',
    'podResourcesSocket',
    'deviceCheckpointFile',
  ] as const) {
    const value = conf[key];
    if (typeof value === 'string' && value !== '') out[key] = value;
  }
  return out;
}
