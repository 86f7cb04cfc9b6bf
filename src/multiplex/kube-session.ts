import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import { KubeNadSource, KubePodSource } from '../k8s/api-sources.ts';
import { CriAnnotationsSource } from '../k8s/cri-annotations.ts';
import { assignDeviceIds, devicesForPod } from '../k8s/device-ids.ts';
import { recordAddedInterfaces, recordWarning } from '../k8s/events.ts';
import { findKubeAccess, type KubeAccess } from '../k8s/kubeconfig.ts';
import { NadDirectory } from '../k8s/nad-directory.ts';
import { PodStore } from '../k8s/pod-store.ts';
import { KubeClient } from '../k8s/rest-client.ts';
import { FirstNadSource, type NadSource, type PodSource } from '../k8s/sources.ts';
import { writeNetworkStatus } from '../k8s/status-writer.ts';
import type { NetworkStatus } from '../k8s/types.ts';
import type { PlanInputs, PodRef } from './plan-types.ts';
import { manifestCache } from './local-sources.ts';
import { podRefFromArgs, type Sources } from './resolve.ts';

/**
 * braid's ADD against a Kubernetes API server. Loaded only when a kubeconfig or in-cluster
 * configuration exists, so that the embedded default never pays for the client. DEL never
 * comes here: it works from the cache alone.
 */
export interface KubeSession {
  client: KubeClient;
  sources: Sources;
  /** Ends the session: a plugin process closes its connections, the agent keeps them for the next call. */
  release(): void;
}

/** Sources answered from braid-agent's watch caches; put in front of the API when braid runs in the agent. */
export interface AgentCaches {
  pods: PodSource;
  nads: NadSource;
}

/** What the process running the handlers brings to a Kubernetes session. */
export interface KubeSessionDeps {
  /** braid-agent's watch caches; a plugin process has none. */
  caches?: AgentCaches | undefined;
  /** braid-agent's shared clients; without one every call opens (and closes) its own. */
  clients?: SharedApiClients | undefined;
}

export async function openKubeSession(
  conf: BraidConf,
  req: CniRequest,
  deps: KubeSessionDeps = {},
): Promise<KubeSession | undefined> {
  const access = await findKubeAccess(conf.kubeconfig, process.env);
  if (!access) return undefined;
  const options = { timeoutMs: conf.apiTimeoutMs, retries: conf.apiRetries };
  const { client, release } = deps.clients ? deps.clients.clientFor(access, options) : ownClient(access, options);
  const pod = podRefFromArgs(req.args);
  const yaml = manifestCache(conf);
  const caches = deps.caches;
  return {
    client,
    sources: {
      // The runtime's own copy of the annotations spares an API request when it sends one.
      pods: [
        new CriAnnotationsSource(conf.runtimeConfig, pod),
        ...(caches ? [caches.pods] : []),
        new KubePodSource(client),
        new PodStore(conf.podDir, yaml),
      ],
      // NADs from the agent's cache, the API, then the local manifest directory (for networks the cluster does not know).
      nads: new FirstNadSource([
        ...(caches ? [caches.nads] : []),
        new KubeNadSource(client),
        new NadDirectory(conf.nadDir, yaml),
      ]),
      warn: async (p, reason, message) => void (await recordWarning(client, p, reason, message)),
    },
    release,
  };
}

type ClientOptions = { timeoutMs: number; retries: number };

function ownClient(access: KubeAccess, options: ClientOptions): { client: KubeClient; release(): void } {
  const client = new KubeClient(access, options);
  return { client, release: () => client.close() };
}

/**
 * In braid-agent every ADD talks to the same API server with the same credentials: one client
 * keeps its keep-alive (TLS) connections for all of them instead of a handshake per pod, which is
 * load on the API server during a burst. A changed kubeconfig (a rotated CA or certificate) gets a
 * new client; the old one is closed once calls still using it are past their time bound.
 */
export class SharedApiClients {
  private shared: { key: string; client: KubeClient } | undefined;

  clientFor(access: KubeAccess, options: ClientOptions): { client: KubeClient; release(): void } {
    const key = JSON.stringify([access, options]);
    if (this.shared?.key !== key) {
      const previous = this.shared?.client;
      if (previous) setTimeout(() => previous.close(), previous.totalTimeoutMs).unref();
      this.shared = { key, client: new KubeClient(access, options) };
    }
    return { client: this.shared.client, release: () => undefined };
  }

  close(): void {
    this.shared?.client.close();
    this.shared = undefined;
  }
}

/** SR-IOV and other device-plugin networks: the pod's device IDs, dealt to the attachments in plan order. */
export async function withDeviceIds(conf: BraidConf, inputs: PlanInputs): Promise<PlanInputs> {
  // Attachment positions as the planner numbers them: defaultNetworks first, then the annotation's.
  const requests = [...inputs.defaultNetworks, ...inputs.selected]
    .map((net, i) => ({ index: 1 + i, resourceName: net.resourceName, network: net.network }))
    .filter((r) => r.resourceName !== undefined);
  if (requests.length === 0 || !inputs.pod) return inputs;
  const opts: Parameters<typeof devicesForPod>[2] = {};
  if (conf.podResourcesSocket) opts.socketPath = conf.podResourcesSocket;
  if (conf.deviceCheckpointFile) opts.checkpointPath = conf.deviceCheckpointFile;
  if (inputs.pod.uid) opts.podUid = inputs.pod.uid;
  const devices = await devicesForPod(inputs.pod.namespace, inputs.pod.name, opts);
  return { ...inputs, deviceIds: assignDeviceIds(requests, devices, inputs.compat) };
}

/** network-status through pods/status (a merge patch of that one annotation), then one event per interface. */
export async function publishToApi(session: KubeSession, pod: PodRef, entries: NetworkStatus[]): Promise<void> {
  const exists = await writeNetworkStatus(session.client, pod.namespace, pod.name, entries);
  if (!exists) return;
  const eventPod = { namespace: pod.namespace, name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) };
  await recordAddedInterfaces(session.client, eventPod, entries);
}
