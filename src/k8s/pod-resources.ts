import { bundledAsset } from '../base/sea-assets.ts';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_FILE = 'podresources-v1.proto';

/**
 * The .proto sits in ./proto next to this module; a bundled build must copy src/k8s/proto/*.proto
 * to a `proto/` folder next to the bundle, which resolves the same way. A single executable
 * carries it as an asset.
 */
function podResourcesProto(): string {
  return bundledAsset(PROTO_FILE) ?? fileURLToPath(new URL(`./proto/${PROTO_FILE}`, import.meta.url));
}

export interface ContainerDevices {
  resource_name: string;
  device_ids: string[];
}

/** A DRA claim's devices (kubelet 1.31+ field numbering). */
export interface DynamicResource {
  claim_name: string;
  claim_namespace: string;
  claim_resources: { cdi_devices: { name: string }[]; driver_name: string; pool_name: string; device_name: string }[];
}

export interface ContainerResources {
  name: string;
  devices: ContainerDevices[];
  dynamic_resources?: DynamicResource[];
}

export interface PodResources {
  name: string;
  namespace: string;
  containers: ContainerResources[];
}

/** kubelet answers with every pod on the node; Multus allows 16 MiB for that. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

let service: grpc.ServiceDefinition | undefined;

/** The PodResourcesLister service definition, loaded once from the .proto. */
export function podResourcesService(): grpc.ServiceDefinition {
  if (!service) {
    const definition = protoLoader.loadSync(podResourcesProto(), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      arrays: true,
    });
    service = definition['v1.PodResourcesLister'] as grpc.ServiceDefinition;
  }
  return service;
}

/** Calls PodResourcesLister.List on kubelet's socket; rejects with the gRPC error on failure. */
export function listPodResources(socketPath: string, timeoutMs: number): Promise<PodResources[]> {
  const list = podResourcesService().List as grpc.MethodDefinition<object, { pod_resources: PodResources[] }>;
  const client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
  return new Promise<PodResources[]>((resolve, reject) => {
    client.makeUnaryRequest(
      list.path,
      list.requestSerialize,
      list.responseDeserialize,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, response) => {
        client.close();
        if (err || !response) reject(err ?? new Error('empty response'));
        else resolve(response.pod_resources);
      },
    );
  });
}

/**
 * Device IDs per resource name for one pod, merged across its containers: device-plugin devices
 * by resource name, and DRA claims by claim name (a NAD's resourceName names the claim), each
 * CDI device `vendor.com/class=<id>` giving `<id>`, as Multus v4.3 reads them; a CDI name without
 * exactly one `=` is skipped.
 */
export function devicesOfPod(pods: readonly PodResources[], namespace: string, name: string): Map<string, string[]> {
  const devices = new Map<string, string[]>();
  const add = (key: string, ids: string[]) => devices.set(key, [...(devices.get(key) ?? []), ...ids]);
  const pod = pods.find((p) => p.namespace === namespace && p.name === name);
  for (const container of pod?.containers ?? []) {
    for (const d of container.devices) {
      if (!d.resource_name || d.device_ids.length === 0) continue;
      add(d.resource_name, d.device_ids);
    }
    for (const claim of container.dynamic_resources ?? []) {
      if (!claim.claim_name) continue;
      const ids = claim.claim_resources.flatMap((r) =>
        r.cdi_devices
          .map((c) => c.name.split('='))
          .filter((p) => p.length === 2)
          .map((p) => p[1]!),
      );
      if (ids.length > 0) add(claim.claim_name, ids);
    }
  }
  return devices;
}
