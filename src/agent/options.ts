import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { PATHS } from '../base/defaults.ts';

/** braid-agent's command line. Every option has a default that fits the example DaemonSet. */
export interface AgentOptions {
  socketPath: string;
  /** Plugin calls run at once; more wait in line (DEL never waits). */
  maxConcurrent: number;
  /** host:port of /healthz, /readyz and /metrics over TCP; undefined: only on the unix socket. */
  metricsAddress: { host: string; port: number } | undefined;
  nodeName: string;
  /** Empty: in-cluster access (service account) when KUBERNETES_SERVICE_HOST is set, else none. */
  kubeconfig: string | undefined;
  /** braid's per-container cache (attachments metric; policy state under <cacheDir>/policy). */
  cacheDir: string;
  bpfRoot: string;
  policyDir: string;
  podDir: string;
  /** Watch policies, namespaces and every pod, and keep the policy maps in sync. */
  policy: boolean;
  /** Bound on one list request, in milliseconds. */
  apiTimeoutMs: number;
  watchTimeoutSeconds: number;
  /** How long running calls may finish after SIGTERM, in milliseconds. */
  shutdownGraceMs: number;
  /** --host-root: delegates run chrooted into the host's root file system mounted here. */
  hostRoot: string | undefined;
  /** The chroot-and-exec program for --host-root; undefined: braid-chroot beside this executable. */
  chrootHelper: string | undefined;
  /** Multus' daemon-config.json, laid over the conf of each call from Multus' shim (as Multus' daemon does). */
  multusDaemonConfig: string | undefined;
}

export const AGENT_USAGE = `usage: braid-agent [options]
  --socket <path>            unix socket braid hands calls to (default ${PATHS.agentSocket})
  --max-concurrent <n>       plugin calls run at once; more queue (default 8)
  --metrics-address <h:p>    /healthz, /readyz, /metrics over TCP; "off" to disable (default 0.0.0.0:9464)
  --node-name <name>         this node (default $NODE_NAME, else the host name)
  --kubeconfig <path>        API access (default: in-cluster service account)
  --cache-dir <dir>          braid's per-container cache (default ${PATHS.cacheDir})
  --bpf-root <dir>           policy pin root (default ${PATHS.bpfRoot})
  --policy-dir <dir>         local policy store (default ${PATHS.policyDir})
  --pod-dir <dir>            local pod store (default ${PATHS.podDir})
  --no-policy                do not watch policies; watch only this node's pods and the NADs
                             (without Kubernetes: do not watch the local policy and pod stores)
  --api-timeout <seconds>    bound on one list request (default 60)
  --watch-timeout <seconds>  server-side watch timeout (default 300)
  --shutdown-grace <seconds> time running calls get after SIGTERM (default 10)
  --host-root <dir>          run delegates chrooted into this directory, the host's / mounted
                             in the agent's container (default: none, the agent's own root)
  --chroot-helper <path>     the program that chroots and execs them (default: braid-chroot
                             beside braid-agent)
  --multus-daemon-config <f> Multus' daemon-config.json: its keys are laid over the conf of each
                             call from Multus' shim, as Multus' daemon does (default: none)
`;

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
}

function address(value: string | undefined): AgentOptions['metricsAddress'] {
  const text = value ?? '0.0.0.0:9464';
  if (text === 'off' || text === '') return undefined;
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new Error(`--metrics-address must be host:port or "off", got "${text}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
}

export function parseAgentOptions(argv: string[], env: Record<string, string | undefined>): AgentOptions | 'help' {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      socket: { type: 'string' },
      'max-concurrent': { type: 'string' },
      'metrics-address': { type: 'string' },
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      'cache-dir': { type: 'string' },
      'bpf-root': { type: 'string' },
      'policy-dir': { type: 'string' },
      'pod-dir': { type: 'string' },
      'no-policy': { type: 'boolean', default: false },
      'api-timeout': { type: 'string' },
      'watch-timeout': { type: 'string' },
      'shutdown-grace': { type: 'string' },
      'host-root': { type: 'string' },
      'chroot-helper': { type: 'string' },
      'multus-daemon-config': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (v.help) return 'help';
  const maxConcurrent = positive(v['max-concurrent'], 8, 'max-concurrent');
  if (!Number.isInteger(maxConcurrent)) throw new Error('--max-concurrent must be a whole number');
  return {
    socketPath: v.socket ?? PATHS.agentSocket,
    maxConcurrent,
    metricsAddress: address(v['metrics-address']),
    nodeName: v['node-name'] ?? env.NODE_NAME ?? hostname(),
    kubeconfig: v.kubeconfig || undefined,
    cacheDir: v['cache-dir'] ?? PATHS.cacheDir,
    bpfRoot: v['bpf-root'] ?? PATHS.bpfRoot,
    policyDir: v['policy-dir'] ?? PATHS.policyDir,
    podDir: v['pod-dir'] ?? PATHS.podDir,
    policy: !v['no-policy'],
    apiTimeoutMs: positive(v['api-timeout'], 60, 'api-timeout') * 1000,
    watchTimeoutSeconds: positive(v['watch-timeout'], 300, 'watch-timeout'),
    shutdownGraceMs: positive(v['shutdown-grace'], 10, 'shutdown-grace') * 1000,
    hostRoot: v['host-root'] || undefined,
    chrootHelper: v['chroot-helper'] || undefined,
    multusDaemonConfig: v['multus-daemon-config'] || undefined,
  };
}
