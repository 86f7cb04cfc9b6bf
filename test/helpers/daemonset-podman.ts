import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * examples/kubernetes/*.yaml read as kubelet would read the DaemonSet's pod, turned into
 * `podman run` arguments: the test runs exactly what the manifests say (commands, env, mounts and
 * their propagation, host network and PID namespace, privileges), with every hostPath under a
 * fake host's root instead of /. What kubelet adds on its own (the service account token and the
 * KUBERNETES_SERVICE_* variables) is the caller's, as `kubelet`.
 */

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  mountPropagation?: string;
}
export interface ContainerSpec {
  name: string;
  image: string;
  command: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  resources?: { limits?: { memory?: string } };
  readinessProbe?: { httpGet?: { path: string; port: number } };
  livenessProbe?: { httpGet?: { path: string; port: number } };
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
}
export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  initContainers: ContainerSpec[];
  containers: ContainerSpec[];
  volumes: Volume[];
}
interface KubeObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template?: { spec?: PodSpec } };
}

export interface Manifests {
  pod: PodSpec;
  configMaps: Map<string, Record<string, string>>;
}

export function readManifests(dir: string): Manifests {
  const objects = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as KubeObject));
  const ds = objects.filter((o) => o.kind === 'DaemonSet');
  if (ds.length !== 1 || !ds[0]!.spec?.template?.spec)
    throw new Error(`expected one DaemonSet in ${dir}, found ${ds.length}`);
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, o.data ?? {}]));
  return { pod: ds[0]!.spec!.template!.spec!, configMaps };
}

export interface KubeletView {
  nodeName: string;
  /** The node's root: hostPath volumes are `<hostRoot><path>`. */
  hostRoot: string;
  /** The network namespace hostNetwork means here (the test's node namespace). */
  hostNetns: string;
  /** Where configMap volumes are written (one subdirectory per volume). */
  scratch: string;
  /** What kubelet adds to every container: the service account volume and its environment. */
  serviceAccountDir: string;
  serviceEnv: Record<string, string>;
  /** The image to run (a pod spec names it; the test loaded it under that name). */
  image?: string;
}

const PROPAGATION: Record<string, string> = { HostToContainer: 'rslave', Bidirectional: 'rshared', None: 'rprivate' };

function envOf(c: ContainerSpec, k: KubeletView): Record<string, string> {
  const env: Record<string, string> = { ...k.serviceEnv };
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = k.nodeName;
    else throw new Error(`${c.name}: env ${e.name} has a source this test does not model`);
  }
  return env;
}

/** kubelet's $(VAR) expansion of a command from the container's environment. */
function expand(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

function volumeSource(v: Volume, m: Manifests, k: KubeletView): string {
  if (v.hostPath) {
    const path = join(k.hostRoot, v.hostPath.path);
    // kubelet's hostPath types: DirectoryOrCreate makes the directory; Directory requires it,
    // which podman checks (some exist only in the fake host's mount namespace).
    if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(path, { recursive: true });
    return path;
  }
  if (v.configMap) {
    const data = m.configMaps.get(v.configMap.name);
    if (!data) throw new Error(`volume ${v.name}: no ConfigMap ${v.configMap.name} in the manifests`);
    const dir = join(k.scratch, `configmap-${v.name}`);
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(data)) writeFileSync(join(dir, file), text);
    return dir;
  }
  throw new Error(`volume ${v.name}: a kind this test does not model`);
}

/** `podman run` flags and the command for one container of the pod, as kubelet would start it. */
export function podmanRunArgs(
  m: Manifests,
  c: ContainerSpec,
  k: KubeletView,
): { flags: string[]; image: string; command: string[] } {
  const flags: string[] = ['--name', `braid-t-${c.name}-${Math.random().toString(16).slice(2, 8)}`];
  if (m.pod.hostNetwork) flags.push('--network', `ns:${k.hostNetns}`);
  if (m.pod.hostPID) flags.push('--pid', 'host');
  const sc = c.securityContext ?? {};
  if (sc.privileged) flags.push('--privileged');
  for (const cap of sc.capabilities?.drop ?? []) flags.push('--cap-drop', cap.toLowerCase());
  for (const cap of sc.capabilities?.add ?? []) flags.push('--cap-add', cap.toLowerCase());
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  const memory = c.resources?.limits?.memory;
  if (memory) {
    const m = /^(\d+)(Mi|Gi)$/.exec(memory);
    if (!m) throw new Error(`${c.name}: memory limit ${memory} is in a unit this test does not model`);
    flags.push('--memory', `${m[1]}${m[2] === 'Mi' ? 'm' : 'g'}`);
  }
  const env = envOf(c, k);
  for (const [name, value] of Object.entries(env)) flags.push('--env', `${name}=${value}`);
  for (const mount of c.volumeMounts ?? []) {
    const volume = m.pod.volumes.find((v) => v.name === mount.name);
    if (!volume) throw new Error(`${c.name} mounts undeclared volume ${mount.name}`);
    const opts = [mount.readOnly ? 'ro' : 'rw', PROPAGATION[mount.mountPropagation ?? 'None'] ?? 'rprivate'];
    flags.push('--volume', `${volumeSource(volume, m, k)}:${mount.mountPath}:${opts.join(',')}`);
  }
  flags.push('--volume', `${k.serviceAccountDir}:/var/run/secrets/kubernetes.io/serviceaccount:ro`);
  return { flags, image: k.image ?? c.image, command: c.command.map((a) => expand(a, env)) };
}
