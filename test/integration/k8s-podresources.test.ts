import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../src/base/errors.ts';
import { assignDeviceIds, devicesForPod } from '../../src/k8s/device-ids.ts';
import { listPodResources } from '../../src/k8s/pod-resources.ts';
import { FakePodResources, type FakePod } from '../helpers/fake-podresources.ts';

const VF = 'intel.com/sriov_netdevice';
let dir: string;
let kubelet: FakePodResources | undefined;
let deadSocket: Server | undefined;

const pods: FakePod[] = [
  {
    namespace: 'team-a',
    name: 'dpdk-0',
    containers: [
      { name: 'app', devices: [{ resource: VF, ids: ['0000:3b:02.5', '0000:3b:02.2'], numa: 0 }] },
      { name: 'sidecar', devices: [{ resource: 'nvidia.com/gpu', ids: ['GPU-7'], numa: 1 }] },
    ],
  },
  {
    namespace: 'team-b',
    name: 'other',
    containers: [{ name: 'app', devices: [{ resource: VF, ids: ['0000:3b:02.9'] }] }],
  },
];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-podres-'));
});
afterEach(async () => {
  await kubelet?.close();
  kubelet = undefined;
  await new Promise<void>((r) => (deadSocket ? deadSocket.close(() => r()) : r()));
  deadSocket = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function writeCheckpoint(entries: object[]): string {
  const path = join(dir, 'kubelet_internal_checkpoint');
  writeFileSync(path, JSON.stringify({ Data: { PodDeviceEntries: entries, RegisteredDevices: {} }, Checksum: 42 }));
  return path;
}

describe('PodResources API (kubelet gRPC v1 List on a unix socket)', () => {
  it("reads the pod's device IDs from a server speaking the full kubelet schema", async () => {
    kubelet = await FakePodResources.start(dir, pods);
    const devices = await devicesForPod('team-a', 'dpdk-0', {
      socketPath: kubelet.socketPath,
      checkpointPath: join(dir, 'none'),
    });
    expect(devices).toEqual(
      new Map([
        [VF, ['0000:3b:02.5', '0000:3b:02.2']],
        ['nvidia.com/gpu', ['GPU-7']],
      ]),
    );
    expect(kubelet.calls).toBe(1);
  });

  it('reads DRA claims from dynamic_resources, keyed by claim name, the ID after "=" of each CDI name (Multus v4.3)', async () => {
    kubelet = await FakePodResources.start(dir, [
      {
        namespace: 'team-a',
        name: 'dra-0',
        containers: [
          {
            name: 'app',
            devices: [],
            claims: [{ name: 'nic-claim', cdi: ['dra.example.com/nic=0000:3b:10.1', 'no-equals-sign'] }],
          },
        ],
      },
    ]);
    const devices = await devicesForPod('team-a', 'dra-0', { socketPath: kubelet.socketPath });
    expect(devices).toEqual(new Map([['nic-claim', ['0000:3b:10.1']]]));
  });

  it('gives two NADs sharing one resource the sorted IDs in order', async () => {
    kubelet = await FakePodResources.start(dir, pods);
    const devices = await devicesForPod('team-a', 'dpdk-0', { socketPath: kubelet.socketPath });
    const assigned = assignDeviceIds(
      [
        { index: 0 },
        { index: 1, resourceName: VF, network: 'team-a/sriov-left' },
        { index: 2, resourceName: VF, network: 'team-a/sriov-right' },
      ],
      devices,
    );
    expect([...assigned]).toEqual([
      [1, '0000:3b:02.2'],
      [2, '0000:3b:02.5'],
    ]);
  });

  it('answers an empty map for a pod without devices', async () => {
    kubelet = await FakePodResources.start(dir, pods);
    expect((await devicesForPod('team-a', 'plain', { socketPath: kubelet.socketPath })).size).toBe(0);
  });

  it('bounds a slow kubelet by timeoutMs', async () => {
    kubelet = await FakePodResources.start(dir, pods);
    kubelet.delayMs = 2_000;
    const start = Date.now();
    const err = await listPodResources(kubelet.socketPath, 200).catch((e: unknown) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - start).toBeLessThan(1_000);
  });
});

describe('device-manager checkpoint fallback', () => {
  const entries = [
    {
      PodUID: 'uid-dpdk',
      ContainerName: 'app',
      ResourceName: VF,
      DeviceIDs: { '0': ['0000:3b:02.5'], '1': ['0000:3b:02.2'] },
    },
    { PodUID: 'uid-old-kubelet', ContainerName: 'app', ResourceName: VF, DeviceIDs: ['0000:3b:02.7', '0000:3b:02.6'] },
  ];

  it('reads the checkpoint when the PodResources socket does not exist', async () => {
    const checkpointPath = writeCheckpoint(entries);
    const devices = await devicesForPod('team-a', 'dpdk-0', {
      socketPath: join(dir, 'absent.sock'),
      checkpointPath,
      podUid: 'uid-dpdk',
    });
    expect(
      assignDeviceIds(
        [
          { index: 1, resourceName: VF },
          { index: 2, resourceName: VF },
        ],
        devices,
      ),
    ).toEqual(
      new Map([
        [1, '0000:3b:02.2'],
        [2, '0000:3b:02.5'],
      ]),
    );
    const old = await devicesForPod('x', 'y', {
      socketPath: join(dir, 'absent.sock'),
      checkpointPath,
      podUid: 'uid-old-kubelet',
    });
    expect(old.get(VF)).toEqual(['0000:3b:02.7', '0000:3b:02.6']);
  });

  it('falls back when the socket exists but nothing answers on it', async () => {
    const socketPath = join(dir, 'kubelet.sock');
    deadSocket = createServer((s) => s.destroy());
    await new Promise<void>((r) => deadSocket!.listen(socketPath, r));
    const devices = await devicesForPod('team-a', 'dpdk-0', {
      socketPath,
      checkpointPath: writeCheckpoint(entries),
      podUid: 'uid-dpdk',
      timeoutMs: 500,
    });
    expect(devices.get(VF)).toHaveLength(2);
  });

  it('fails with code 5 naming both places when neither answers', async () => {
    const socketPath = join(dir, 'absent.sock');
    const checkpointPath = join(dir, 'absent_checkpoint');
    const err = await devicesForPod('team-a', 'dpdk-0', { socketPath, checkpointPath, podUid: 'u' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(5);
    expect((err as CniError).message).toContain('team-a/dpdk-0');
    expect((err as CniError).message).toContain(socketPath);
    expect((err as CniError).message).toContain(checkpointPath);
  });
});
