/**
 * kubelet's PodResources gRPC service on a unix socket. It serves the complete v1 schema
 * (memory, dynamic_resources, topology, the Get and GetAllocatableResources calls) from its own
 * copy of kubelet's schema, so a test proves braid's client reads what a real kubelet sends.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// kubelet's k8s.io/kubelet/pkg/apis/podresources/v1 schema, field numbers as upstream.
const KUBELET_PROTO = `
syntax = "proto3";
package v1;
service PodResourcesLister {
  rpc List(ListPodResourcesRequest) returns (ListPodResourcesResponse) {}
  rpc GetAllocatableResources(AllocatableResourcesRequest) returns (AllocatableResourcesResponse) {}
  rpc Get(GetPodResourcesRequest) returns (GetPodResourcesResponse) {}
}
message AllocatableResourcesRequest {}
message AllocatableResourcesResponse {
  repeated ContainerDevices devices = 1;
  repeated int64 cpu_ids = 2;
  repeated ContainerMemory memory = 3;
}
message ListPodResourcesRequest {}
message ListPodResourcesResponse { repeated PodResources pod_resources = 1; }
message PodResources {
  string name = 1;
  string namespace = 2;
  repeated ContainerResources containers = 3;
}
message ContainerResources {
  string name = 1;
  repeated ContainerDevices devices = 2;
  repeated int64 cpu_ids = 3;
  repeated ContainerMemory memory = 4;
  repeated DynamicResource dynamic_resources = 5;
}
message ContainerMemory {
  string memory_type = 1;
  uint64 size = 2;
  TopologyInfo topology = 3;
}
message ContainerDevices {
  string resource_name = 1;
  repeated string device_ids = 2;
  TopologyInfo topology = 3;
}
message TopologyInfo { repeated NUMANode nodes = 1; }
message NUMANode { int64 ID = 1; }
message DynamicResource {
  string claim_name = 2;
  string claim_namespace = 3;
  repeated ClaimResource claim_resources = 4;
}
message ClaimResource {
  repeated CDIDevice cdi_devices = 1;
  string driver_name = 2;
  string pool_name = 3;
  string device_name = 4;
}
message CDIDevice { string name = 1; }
message GetPodResourcesRequest {
  string pod_name = 1;
  string pod_namespace = 2;
}
message GetPodResourcesResponse { PodResources pod_resources = 1; }
`;

export interface FakeDevice {
  resource: string;
  ids: string[];
  numa?: number;
}

export interface FakePod {
  namespace: string;
  name: string;
  /** `claims`: DRA claims (PodResources dynamic_resources) with their CDI device names. */
  containers: { name: string; devices: FakeDevice[]; claims?: { name: string; cdi: string[] }[] }[];
}

export class FakePodResources {
  /** List calls answered so far. */
  calls = 0;
  /** Pause before answering, to test braid's time limit. */
  delayMs = 0;
  /** Answer List with this gRPC status instead of data. */
  failWith: grpc.status | undefined;

  private constructor(
    private readonly server: grpc.Server,
    readonly socketPath: string,
    public pods: FakePod[],
  ) {}

  /** Listens on `<dir>/kubelet.sock`; the schema is written to `<dir>/kubelet-api.proto`. */
  static async start(dir: string, pods: FakePod[]): Promise<FakePodResources> {
    const protoPath = join(dir, 'kubelet-api.proto');
    writeFileSync(protoPath, KUBELET_PROTO);
    const definition = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true });
    const service = definition['v1.PodResourcesLister'] as grpc.ServiceDefinition;
    const server = new grpc.Server();
    const socketPath = join(dir, 'kubelet.sock');
    const fake = new FakePodResources(server, socketPath, pods);
    const unimplemented = (_call: unknown, cb: grpc.sendUnaryData<unknown>): void =>
      cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' });
    server.addService(service, {
      List: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => void fake.list(cb),
      Get: unimplemented,
      GetAllocatableResources: unimplemented,
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return fake;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private async list(cb: grpc.sendUnaryData<unknown>): Promise<void> {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith !== undefined) return cb({ code: this.failWith, details: 'injected failure' });
    cb(null, {
      pod_resources: this.pods.map((p) => ({
        name: p.name,
        namespace: p.namespace,
        containers: p.containers.map((c) => ({
          name: c.name,
          devices: c.devices.map((d) => ({
            resource_name: d.resource,
            device_ids: d.ids,
            topology: { nodes: [{ ID: String(d.numa ?? 0) }] },
          })),
          // Fields a real kubelet fills that braid does not read.
          cpu_ids: ['2', '3'],
          memory: [{ memory_type: 'memory', size: '1073741824', topology: { nodes: [{ ID: '0' }] } }],
          dynamic_resources: (c.claims ?? []).map((claim) => ({
            claim_name: claim.name,
            claim_namespace: p.namespace,
            claim_resources: [
              {
                driver_name: 'dra.example.com',
                pool_name: 'node-a',
                device_name: 'dev-0',
                cdi_devices: claim.cdi.map((name) => ({ name })),
              },
            ],
          })),
        })),
      })),
    });
  }
}
