import { describe, expect, it } from 'vitest';
import { parseNetworkConfig } from '../../../src/cni/conflist.ts';
import { buildPlan } from '../../../src/multiplex/plan.ts';
import type { PlanInputs, ResolvedNetwork } from '../../../src/multiplex/plan-types.ts';
import type { NetworkSelectionElement } from '../../../src/k8s/types.ts';

function net(name: string, plugin: Record<string, unknown>, selection?: NetworkSelectionElement): ResolvedNetwork {
  const list = parseNetworkConfig(JSON.stringify({ cniVersion: '1.0.0', name, ...plugin }), `test ${name}`);
  const resolved: ResolvedNetwork = { network: selection ? `default/${name}` : name, list, origin: `test ${name}` };
  if (selection) resolved.selection = selection;
  return resolved;
}

const bridge = net('cluster', { type: 'bridge', bridge: 'cni0' });
const macvlan = (sel: NetworkSelectionElement, caps: Record<string, boolean> = {}) =>
  net(sel.name, { type: 'macvlan', master: 'eth0', capabilities: caps }, sel);

function inputs(overrides: Partial<PlanInputs> = {}): PlanInputs {
  return {
    containerId: 'c1',
    netns: '/run/netns/x',
    ifname: 'eth0',
    args: [
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web'],
    ],
    runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    pod: { namespace: 'default', name: 'web' },
    cluster: bridge,
    defaultNetworks: [],
    selected: [],
    ...overrides,
  };
}

describe('planner', () => {
  it('puts the cluster network first as the runtime ifname, then net1, net2 in annotation order', () => {
    const plan = buildPlan(inputs({ selected: [macvlan({ name: 'a' }), macvlan({ name: 'b' })] }));
    expect(plan.attachments.map((a) => [a.index, a.ifname, a.network, a.isDefault])).toEqual([
      [0, 'eth0', 'cluster', true],
      [1, 'net1', 'default/a', false],
      [2, 'net2', 'default/b', false],
    ]);
  });

  it('numbers after defaultNetworks, as Multus does', () => {
    const plan = buildPlan(
      inputs({ defaultNetworks: [net('extra', { type: 'ptp' })], selected: [macvlan({ name: 'a' })] }),
    );
    expect(plan.attachments.map((a) => a.ifname)).toEqual(['eth0', 'net1', 'net2']);
  });

  it('uses requested names and skips generated names a request already took', () => {
    const plan = buildPlan(inputs({ selected: [macvlan({ name: 'a', interface: 'net2' }), macvlan({ name: 'b' })] }));
    expect(plan.attachments.map((a) => a.ifname)).toEqual(['eth0', 'net2', 'net3']);
  });

  it('refuses two networks asking for the same interface name, naming both', () => {
    expect(() =>
      buildPlan(
        inputs({ selected: [macvlan({ name: 'a', interface: 'data' }), macvlan({ name: 'b', interface: 'data' })] }),
      ),
    ).toThrow(/"data".*default\/b.*default\/a/);
  });

  it('refuses a requested name equal to the cluster interface', () => {
    expect(() => buildPlan(inputs({ selected: [macvlan({ name: 'a', interface: 'eth0' })] }))).toThrow(
      /cluster network/,
    );
  });

  it("gives the runtime's runtimeConfig only to the cluster network (NPWG 7.5)", () => {
    const plan = buildPlan(inputs({ selected: [macvlan({ name: 'a' }, { portMappings: true })] }));
    expect(plan.attachments[0]!.capabilityArgs).toHaveProperty('portMappings');
    expect(plan.attachments[1]!.capabilityArgs).toEqual({});
  });

  it('passes the runtime CNI_ARGS to the cluster network unchanged and adds IgnoreUnknown for the others', () => {
    const plan = buildPlan(inputs({ args: [['K8S_POD_NAME', 'web']], selected: [macvlan({ name: 'a' })] }));
    expect(plan.attachments[0]!.cniArgs).toEqual([['K8S_POD_NAME', 'web']]);
    expect(plan.attachments[1]!.cniArgs).toContainEqual(['IgnoreUnknown', '1']);
    expect(plan.attachments[1]!.cniArgs).toContainEqual(['K8S_POD_NAME', 'web']);
  });

  it('maps ips, mac, bandwidth, portMappings and infiniband-guid to runtimeConfig keys', () => {
    const sel: NetworkSelectionElement = {
      name: 'a',
      ips: ['10.1.1.5/24'],
      mac: 'c2:11:22:33:44:55',
      bandwidth: { ingressRate: 1000, ingressBurst: 2000 },
      portMappings: [{ hostPort: 1, containerPort: 2 }],
      'infiniband-guid': 'c2:11:22:33:44:55:66:77',
    };
    const caps = { ips: true, mac: true, bandwidth: true, portMappings: true, infinibandGUID: true };
    const plan = buildPlan(inputs({ selected: [macvlan(sel, caps)] }));
    expect(plan.attachments[1]!.capabilityArgs).toEqual({
      ips: ['10.1.1.5/24'],
      mac: 'c2:11:22:33:44:55',
      bandwidth: { ingressRate: 1000, ingressBurst: 2000 },
      portMappings: [{ hostPort: 1, containerPort: 2 }],
      infinibandGUID: 'c2:11:22:33:44:55:66:77',
    });
  });

  it('fails when a requested capability is declared by no plugin of the network (NPWG)', () => {
    expect(() => buildPlan(inputs({ selected: [macvlan({ name: 'a', ips: ['10.1.1.5'] })] }))).toThrow(
      /default\/a.*"ips".*capabilities\.ips/,
    );
  });

  it('merges cni-args into args.cni of every plugin, the pod winning over the NAD', () => {
    const conflist = parseNetworkConfig(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'a',
        plugins: [{ type: 'macvlan', args: { cni: { keep: 1, over: 'nad' } } }, { type: 'tuning' }],
      }),
      'test',
    );
    const sel: NetworkSelectionElement = { name: 'a', 'cni-args': { over: 'pod', extra: true } };
    const plan = buildPlan(
      inputs({ selected: [{ network: 'default/a', list: conflist, origin: 't', selection: sel }] }),
    );
    const plugins = plan.attachments[1]!.list.plugins;
    expect(plugins[0]!.args).toEqual({ cni: { keep: 1, over: 'pod', extra: true } });
    expect(plugins[1]!.args).toEqual({ cni: { over: 'pod', extra: true } });
    expect(JSON.parse(plan.attachments[1]!.list.bytes).plugins[0].args.cni.over).toBe('pod');
  });

  it('keeps the configuration bytes unchanged when nothing is merged', () => {
    const sel = macvlan({ name: 'a' });
    const plan = buildPlan(inputs({ selected: [sel] }));
    expect(plan.attachments[1]!.list.bytes).toBe(sel.list.bytes);
  });

  it('injects a device ID into the conf (deviceID, pciBusID) and runtimeConfig.deviceID', () => {
    const sriov = net('sriov', { type: 'host-device', capabilities: { deviceID: true } }, { name: 'sriov' });
    const plan = buildPlan(inputs({ selected: [sriov], deviceIds: new Map([[1, '0000:af:06.0']]) }));
    const att = plan.attachments[1]!;
    expect(att.capabilityArgs.deviceID).toBe('0000:af:06.0');
    expect(att.list.plugins[0]).toMatchObject({ deviceID: '0000:af:06.0', pciBusID: '0000:af:06.0' });
  });

  it('records default-route on the attachment that asked for it', () => {
    const plan = buildPlan(inputs({ selected: [macvlan({ name: 'a', 'default-route': ['10.9.0.1'] })] }));
    expect(plan.attachments[1]!.defaultRoute).toEqual(['10.9.0.1']);
    expect(plan.attachments[0]!.defaultRoute).toBeUndefined();
  });
});
