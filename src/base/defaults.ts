/**
 * braid's default locations and limits, in one place: braid's conf loader, the CLI, the agent and
 * braid-veth all start from these, and the schemas' descriptions name the same values. A conf key,
 * a flag or an environment variable overrides each one where braid has it; nothing here is read
 * from the environment (that is the caller's job, so that tests can pass their own).
 */

/** Paths on the node, as the host sees them. */
const paths = {
  /** The CNI conf dir the runtime reads; braid's conflist sorts first in it. */
  cniConfDir: '/etc/cni/net.d',
  /** braid's own conf file (what `braid status` and `braid policy` read by default). */
  braidConf: '/etc/cni/net.d/00-braid.conflist',
  /** Multus' `confDir` default, kept for compatibility. */
  multusConfDir: '/etc/cni/multus/net.d',
  /** The per-container attachment cache (conf `cniDir`/`cacheDir`): braid's own, never Multus'. */
  cacheDir: '/var/lib/cni/braid',
  /** Multus' `cniDir`, read for containers Multus set up. */
  multusCacheDir: '/var/lib/cni/multus',
  /** braid-veth's IP reservations and endpoint state. */
  vethStateDir: '/var/lib/cni/braid-veth',
  binDir: '/opt/cni/bin',
  podDir: '/etc/cni/braid/pods',
  nadDir: '/etc/cni/braid/nads',
  policyDir: '/etc/cni/braid/policies',
  /** Pin root of the policy and veth datapath on bpffs; v1 is the layout version of the pins. */
  bpfRoot: '/sys/fs/bpf/braid/v1',
  /** braid-agent's unix socket (conf `agentSocket`); the front door (cmd/braid-front) has its own copy in C. */
  agentSocket: '/run/braid/braid.sock',
  /** Where a single executable writes its bundled assets (tmpfs: a reboot clears it). */
  assetRoot: '/run/braid',
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
  podResourcesSocket: '/var/lib/kubelet/pod-resources/kubelet.sock',
  deviceCheckpoint: '/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint',
  /** NPWG device-info files, one per pod attachment (conf `deviceInfoDir`). */
  deviceInfoDir: '/var/run/k8s.cni.cncf.io/devinfo',
};

export const PATHS: Readonly<typeof paths> = Object.freeze(paths);

/** Time limits and retries (conf keys in seconds, as Multus' are). */
const limits = {
  /** One delegate call (conf `delegateTimeout`). */
  delegateTimeoutSeconds: 60,
  /** One Kubernetes API request (conf `apiTimeout`). */
  apiTimeoutSeconds: 5,
  /** Extra attempts after a 5xx, refused or reset API request (conf `apiRetries`). */
  apiRetries: 3,
  /** Pause before an API retry. */
  apiRetryDelayMs: 200,
  /** How long ADD waits for the readiness indicator file (conf `readinessTimeout`; Multus' bound). */
  readinessTimeoutSeconds: 45,
  /**
   * Attachments of one pod run at once with `parallelAttachments` (each is a delegate process;
   * braid-agent runs up to --max-concurrent calls, so a burst spawns at most both multiplied).
   */
  parallelAttachments: 4,
};
export const LIMITS: Readonly<typeof limits> = Object.freeze(limits);
