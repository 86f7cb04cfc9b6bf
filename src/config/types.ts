import type { PluginConf } from '../cni/netconf.ts';
import type { CompatWarning } from '../base/leniency.ts';

/** braid: where and whether the eBPF policy programs are attached. */
export interface PolicyConf {
  enabled: boolean;
  bpfRoot: string;
  policyDir: string;
  allowDhcp: boolean;
  allowMld: boolean;
}

export type LogLevel = 'panic' | 'error' | 'verbose' | 'debug';

/**
 * Multus' `logOptions` after defaults, with lumberjack's meaning: the log file becomes a
 * timestamped backup beside it when a line would take it past `maxSize` megabytes.
 */
export interface LogOptions {
  /** Days a backup is kept; 0 keeps backups of any age. */
  maxAge: number;
  /** Megabytes the log file may reach; always > 0 (a configured 0 means the default). */
  maxSize: number;
  /** Backups kept, newest first; 0 keeps them all. */
  maxBackups: number;
  /** gzip backups (`.gz` appended). */
  compress: boolean;
}

/**
 * braid's own configuration after schema validation and defaults. Keys follow Multus where
 * Multus has them (multus-compat.md section 1); braid's additions are marked.
 */
export interface BraidConf {
  cniVersion: string;
  name: string;
  type: string;
  clusterNetwork?: string;
  defaultNetworks: string[];
  /** Inline delegate confs; the first is the cluster network when clusterNetwork is absent. */
  delegates: PluginConf[];
  systemNamespaces: string[];
  namespaceIsolation: boolean;
  globalNamespaces: string[];
  multusNamespace: string;
  confDir: string;
  /** Directory of braid's per-container cache (Multus `cniDir`; `cacheDir` is accepted as an alias). */
  cniDir: string;
  /** braid: Multus' cniDir, read for containers braid has no record of (pods Multus set up). */
  multusCniDir: string;
  binDir: string;
  kubeconfig?: string;
  readinessindicatorfile?: string;
  logFile?: string;
  logLevel: LogLevel;
  logToStderr: boolean;
  /** Rotation of `logFile` (Multus `logOptions`). */
  logOptions: LogOptions;
  capabilities: Record<string, boolean>;
  /** The runtime's capability arguments for braid itself (filtered by `capabilities`). */
  runtimeConfig: Record<string, unknown>;
  retryDeleteOnError: boolean;
  /**
   * braid: the additional attachments run concurrently after the cluster network (NPWG 7.3 wants
   * them sequential, hence off by default); see multiplex/attachment-order.ts.
   */
  parallelAttachments: boolean;
  /** braid: refuse what Multus accepts but NPWG forbids, instead of warning (default false). */
  strict: boolean;
  /** Conf keys accepted the way Multus accepts them (an unknown logLevel); reported with the pod's warnings. */
  compatWarnings: CompatWarning[];
  /** braid: directory of the local pod store (embedded default pod source). */
  podDir: string;
  /** braid: directory of NetworkAttachmentDefinition manifests (embedded default NAD source). */
  nadDir: string;
  /** braid: time limit for one delegate call, in milliseconds. */
  delegateTimeoutMs: number;
  /** braid: bound on one Kubernetes API request, in milliseconds. */
  apiTimeoutMs: number;
  /** braid: extra attempts after a failed API request. */
  apiRetries: number;
  /** braid: how long ADD waits for the readiness indicator file, in milliseconds. */
  readinessTimeoutMs: number;
  /** braid: kubelet's PodResources socket (default: kubelet's path). */
  podResourcesSocket?: string;
  /** braid: kubelet's device-manager checkpoint file (default: kubelet's path). */
  deviceCheckpointFile?: string;
  /** braid: NPWG device-info directory (device plugins' dp/, per-attachment cni/). */
  deviceInfoDir: string;
  /** braid: MultiNetworkPolicy enforcement (see PolicyConf). */
  policy: PolicyConf;
  /** braid: braid-agent's unix socket; '' turns the hand-over to the agent off. */
  agentSocket: string;
  /** The validated input object, for keys braid passes on unchanged. */
  raw: Record<string, unknown>;
}
