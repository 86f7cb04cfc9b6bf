import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  ANN_STATUS,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { closeAllKubeBeds, startKubeBed, type KubeBed } from '../helpers/kube-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// Issue 11 item 4: NPWG device-info as Multus does it. The device plugin's file is copied for the
// attachment, the delegate gets runtimeConfig.CNIDeviceInfoFile (when it declares the
// capability), network-status carries `device-info`, and DEL removes the attachment's file.

const unavailable = braidUnavailable();
const RESOURCE = 'example.com/vf';
const DEVICE = '0000:03:00.2';
const UID = 'uid-web';
const ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=${UID}`;
const INFO = { type: 'pci', version: '1.1.0', pci: { 'pci-address': DEVICE } };

describe.skipIf(unavailable !== undefined)('device-info for device-plugin networks', () => {
  let bed: BraidBed;
  let kube: KubeBed;
  let kubelet: FakePodResources;

  beforeAll(() => void braidBinary(), 60_000);
  beforeEach(async () => {
    bed = await makeBraidBed();
    kube = await startKubeBed(bed.root, bed.node.path);
    kubelet = await FakePodResources.start(makeTempDir('braid-t-kubelet'), [
      {
        namespace: 'default',
        name: 'web',
        containers: [{ name: 'app', devices: [{ resource: RESOURCE, ids: [DEVICE] }] }],
      },
    ]);
  });
  afterEach(async () => {
    await kubelet.close();
    await closeAllKubeBeds();
    await destroyAllNetns();
    cleanupTemps();
  });

  it("copies the device plugin's file, offers it as CNIDeviceInfoFile, reports it in network-status, removes it on DEL", async () => {
    const devinfo = join(bed.root, 'devinfo');
    mkdirSync(join(devinfo, 'dp'), { recursive: true });
    writeFileSync(join(devinfo, 'dp', `example.com-vf-${DEVICE}-device.json`), JSON.stringify(INFO));
    const spy = bed.spy('spy-sriov');
    const plugin = { type: 'spy-sriov', capabilities: { deviceID: true, CNIDeviceInfoFile: true } };
    kube.api.setNad('default', 'vf', JSON.stringify({ cniVersion: '1.0.0', name: 'vf', plugins: [plugin] }), {
      'k8s.v1.cni.cncf.io/resourceName': RESOURCE,
    });
    kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'vf' } });
    const conf = kube.conf(bed.conf({ podResourcesSocket: kubelet.socketPath, deviceInfoDir: devinfo }));

    expectOk(await bed.run('ADD', { conf, args: ARGS }));

    const file = join(devinfo, 'cni', `default-vf-${bed.containerId}_net1`);
    expect(spy.callsOf('ADD')[0]?.config?.runtimeConfig).toEqual({ deviceID: DEVICE, CNIDeviceInfoFile: file });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(INFO);
    const status = JSON.parse(kube.api.pod('default', 'web')!.metadata.annotations![ANN_STATUS]!) as Record<
      string,
      unknown
    >[];
    expect(status.find((s) => s.name === 'default/vf')?.['device-info']).toEqual(INFO);

    expectOk(await bed.run('DEL', { conf, args: ARGS }));
    expect(existsSync(file)).toBe(false);
    expect(
      existsSync(join(devinfo, 'dp', `example.com-vf-${DEVICE}-device.json`)),
      "the device plugin's own file stays",
    ).toBe(true);
  });

  it("gives a NAD whose resourceName is a DRA claim the claim's device (PodResources dynamic_resources)", async () => {
    kubelet.pods = [
      {
        namespace: 'default',
        name: 'web',
        containers: [
          { name: 'app', devices: [], claims: [{ name: 'nic-claim', cdi: ['dra.example.com/nic=0000:3b:10.1'] }] },
        ],
      },
    ];
    const spy = bed.spy('spy-dra');
    kube.api.setNad(
      'default',
      'dra',
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'dra',
        plugins: [{ type: 'spy-dra', capabilities: { deviceID: true } }],
      }),
      {
        'k8s.v1.cni.cncf.io/resourceName': 'nic-claim',
      },
    );
    kube.api.setPod({ namespace: 'default', name: 'web', uid: UID, annotations: { [ANN_NETWORKS]: 'dra' } });
    const conf = kube.conf(bed.conf({ podResourcesSocket: kubelet.socketPath }));

    expectOk(await bed.run('ADD', { conf, args: ARGS }));

    expect(spy.callsOf('ADD')[0]?.config).toMatchObject({
      deviceID: '0000:3b:10.1',
      runtimeConfig: { deviceID: '0000:3b:10.1' },
    });
    expectOk(await bed.run('DEL', { conf, args: ARGS }));
  });
});
