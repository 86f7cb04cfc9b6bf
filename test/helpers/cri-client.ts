import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';

/**
 * A small CRI client (runtime.v1.RuntimeService over the runtime's unix socket), the calls kubelet
 * makes for a pod sandbox: RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox and
 * ListPodSandbox. Messages are plain objects with the proto's field names (snake_case).
 */
const PROTO = join(import.meta.dirname, 'cri', 'api.proto');

export interface SandboxMetadata {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
}
export interface SandboxConfig {
  metadata: SandboxMetadata;
  hostname?: string;
  log_directory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: Record<string, unknown>;
}
export interface SandboxStatus {
  id: string;
  state: string;
  network?: { ip: string; additional_ips?: { ip: string }[] };
}

type Reply = Record<string, unknown>;
type Call = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: Reply) => void,
) => void;

export interface CriClient {
  runPodSandbox(config: SandboxConfig): Promise<string>;
  podSandboxStatus(id: string): Promise<{ status: SandboxStatus; info: Record<string, string> }>;
  stopPodSandbox(id: string): Promise<void>;
  removePodSandbox(id: string): Promise<void>;
  listPodSandbox(): Promise<{ id: string; metadata: SandboxMetadata; state: string }[]>;
  close(): void;
}

export function criClient(socketPath: string, timeoutMs = 90_000): CriClient {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
  };
  const client = new pkg.runtime.v1.RuntimeService(`unix:${socketPath}`, grpc.credentials.createInsecure());
  const call = (method: string, req: unknown): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, Call>)[method]!.bind(client);
      fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  return {
    runPodSandbox: async (config) =>
      (await call('RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id as string,
    podSandboxStatus: async (id) => {
      const r = await call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
      return { status: r.status as SandboxStatus, info: r.info as Record<string, string> };
    },
    stopPodSandbox: async (id) => void (await call('StopPodSandbox', { pod_sandbox_id: id })),
    removePodSandbox: async (id) => void (await call('RemovePodSandbox', { pod_sandbox_id: id })),
    listPodSandbox: async () =>
      (await call('ListPodSandbox', {})).items as { id: string; metadata: SandboxMetadata; state: string }[],
    close: () => client.close(),
  };
}
