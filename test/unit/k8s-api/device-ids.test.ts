import { describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import { devicesFromCheckpoint } from '../../../src/k8s/checkpoint.ts';
import { assignDeviceIds } from '../../../src/k8s/device-ids.ts';

const VF = 'intel.com/sriov_netdevice';

describe('assignDeviceIds', () => {
  it('deals sorted IDs in plan order to NADs sharing a resource', () => {
    const devices = new Map([[VF, ['0000:3b:02.3', '0000:3b:02.1']]]);
    const assigned = assignDeviceIds(
      [
        { index: 2, resourceName: VF, network: 'default/sriov-b' },
        { index: 0 },
        { index: 1, resourceName: VF, network: 'default/sriov-a' },
      ],
      devices,
    );
    expect(assigned).toEqual(
      new Map([
        [1, '0000:3b:02.1'],
        [2, '0000:3b:02.3'],
      ]),
    );
  });

  it('keeps separate counters per resource', () => {
    const devices = new Map([
      ['a/x', ['x2', 'x1']],
      ['b/y', ['y1']],
    ]);
    const assigned = assignDeviceIds(
      [
        { index: 1, resourceName: 'a/x' },
        { index: 2, resourceName: 'b/y' },
        { index: 3, resourceName: 'a/x' },
      ],
      devices,
    );
    expect([...assigned]).toEqual([
      [1, 'x1'],
      [2, 'y1'],
      [3, 'x2'],
    ]);
  });

  it('fails naming the resource and the NAD when the pod has too few devices', () => {
    const devices = new Map([[VF, ['0000:3b:02.1']]]);
    let err: unknown;
    try {
      assignDeviceIds(
        [
          { index: 1, resourceName: VF, network: 'default/sriov-a' },
          { index: 2, resourceName: VF, network: 'default/sriov-b' },
        ],
        devices,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).message).toContain('default/sriov-b');
    expect((err as CniError).message).toContain(`allocated 1 and 2 attachment(s) use that resource`);
  });
});

describe('device-manager checkpoint', () => {
  const checkpoint = {
    Data: {
      PodDeviceEntries: [
        {
          PodUID: 'uid-1',
          ContainerName: 'app',
          ResourceName: VF,
          DeviceIDs: { '0': ['0000:3b:02.4'], '1': ['0000:af:02.0'] },
        },
        { PodUID: 'uid-1', ContainerName: 'sidecar', ResourceName: VF, DeviceIDs: { '0': ['0000:3b:02.2'] } },
        { PodUID: 'uid-1', ContainerName: 'app', ResourceName: 'nvidia.com/gpu', DeviceIDs: ['GPU-1'] },
        { PodUID: 'uid-2', ContainerName: 'app', ResourceName: VF, DeviceIDs: { '0': ['0000:3b:02.9'] } },
      ],
      RegisteredDevices: { [VF]: ['0000:3b:02.2', '0000:3b:02.4', '0000:3b:02.9', '0000:af:02.0'] },
    },
    Checksum: 1234,
  };

  it("collects the pod's IDs across containers and NUMA nodes, in both DeviceIDs shapes", () => {
    const devices = devicesFromCheckpoint(checkpoint, 'uid-1');
    expect(devices.get(VF)?.sort()).toEqual(['0000:3b:02.2', '0000:3b:02.4', '0000:af:02.0']);
    expect(devices.get('nvidia.com/gpu')).toEqual(['GPU-1']);
    expect(devicesFromCheckpoint(checkpoint, 'uid-3').size).toBe(0);
  });

  it('rejects a checkpoint whose entries are not a list, naming the file', () => {
    expect(() => devicesFromCheckpoint({ Data: { PodDeviceEntries: {} } }, 'u', '/x/ckpt')).toThrow(
      /\/x\/ckpt: Data.PodDeviceEntries/,
    );
  });
});
