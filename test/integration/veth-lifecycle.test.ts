import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detachTcxPinned } from '../../src/bpf/tcx.ts';
import { linkPin } from '../../src/veth/datapath.ts';
import { isRoot } from '../bpf/env.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { NETWORK, SUBNET4, createPod, makeTestbed, removePluginBinary, type Testbed } from './veth-testbed.ts';

describe.skipIf(!isRoot)('braid-veth plugin: CHECK, STATUS, GC, failures', () => {
  let tb: Testbed;

  beforeEach(async () => {
    tb = await makeTestbed();
  });
  afterEach(async () => {
    await destroyAllNetns();
    tb?.cleanup();
    cleanupTemps();
  });
  afterAll(() => removePluginBinary());

  async function add(id: string, conf = tb.conf()): Promise<{ ns: Netns; result: Record<string, any> }> {
    const ns = await createPod();
    const r = await tb.run('ADD', { pod: ns, containerId: id, conf });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return { ns, result: r.json! };
  }

  const ipFiles = () =>
    existsSync(join(tb.ipamDir, NETWORK))
      ? readdirSync(join(tb.ipamDir, NETWORK)).filter((f) => /^[0-9a-f.:]+$/.test(f))
      : [];
  const linkPins = () =>
    existsSync(join(tb.pins.path, 'veth/links')) ? readdirSync(join(tb.pins.path, 'veth/links')) : [];
  const endpointAddrs = () => {
    const maps = tb.maps();
    try {
      return maps.endpoints.keys().map((k) => k.address);
    } finally {
      maps.close();
    }
  };

  it('CHECK passes after ADD and names what is missing once the pod or host side is damaged', async () => {
    const { ns, result } = await add('pod-c');
    const check = (prev = result) =>
      tb.run('CHECK', { pod: ns, containerId: 'pod-c', conf: tb.conf({ prevResult: prev }) });
    expect((await check()).code).toBe(0);

    const noPrev = await tb.run('CHECK', { pod: ns, containerId: 'pod-c' });
    expect(noPrev.json?.msg).toMatch(/Required prevResult missing/);

    detachTcxPinned(linkPin(tb.pins.path, tb.hostVeth('pod-c'), 'ingress'));
    const hooks = await check();
    expect(hooks.code).not.toBe(0);
    expect(hooks.json?.msg).toMatch(/no pinned tcx ingress link/);

    const v4 = (result.ips as { address: string }[])[0]!.address;
    await ns.ip(['addr', 'del', v4, 'dev', 'eth0']);
    const addr = await check();
    expect(addr.json?.msg).toContain(`address ${v4} is missing on eth0`);

    await ns.ip(['link', 'del', 'eth0']);
    const gone = await check();
    expect(gone.json?.msg).toMatch(/interface eth0 is missing/);
    expect(gone.json?.msg).toMatch(/host-side veth brv[0-9a-f]{12} is missing/);
  });

  it('DEL works when the pod namespace is already gone, and twice', async () => {
    const { ns, result } = await add('pod-gone');
    const hostVeth = tb.hostVeth('pod-gone');
    await ns.destroy();
    for (let i = 0; i < 2; i++) {
      const del = await tb.run('DEL', { pod: ns.path, containerId: 'pod-gone' });
      expect(del.code, del.stdout).toBe(0);
    }
    expect(tb.hostLink(hostVeth)).toBeUndefined();
    expect(ipFiles()).toEqual([]);
    expect(endpointAddrs()).toEqual([]);
    expect(linkPins()).toEqual([]);
    expect(readdirSync(join(tb.stateDir, 'endpoints'))).toEqual([]);
    expect(result.ips).toHaveLength(2);
  });

  it('refuses a second ADD of the same attachment and leaves the first intact', async () => {
    const { ns } = await add('pod-twice');
    const again = await tb.run('ADD', { pod: ns, containerId: 'pod-twice' });
    expect(again.code).not.toBe(0);
    expect(again.json).toMatchObject({ code: 102, msg: expect.stringMatching(/interface eth0 already exists/) });
    expect(tb.hostLink(tb.hostVeth('pod-twice'))).toBeDefined();
    expect(ipFiles()).toHaveLength(2);
  });

  it('rolls a failed ADD back: no veth, pins, map entries or IP reservation remain', async () => {
    // An IPAM route to the gateway itself collides with braid-veth's own gateway route.
    const conf = tb.conf();
    (conf.ipam as Record<string, unknown>).routes = [{ dst: '169.254.1.1/32' }];
    const ns = await createPod();
    const r = await tb.run('ADD', { pod: ns, containerId: 'pod-fail', conf });
    expect(r.code).not.toBe(0);
    expect(r.json?.msg).toMatch(/add route 169\.254\.1\.1\/32 via 169\.254\.1\.1 .*EEXIST/);
    expect(tb.hostLink(tb.hostVeth('pod-fail'))).toBeUndefined();
    expect((await ns.links()).map((l) => l.ifname)).toEqual(['lo']);
    expect(ipFiles()).toEqual([]);
    expect(endpointAddrs()).toEqual([]);
    expect(linkPins()).toEqual([]);
  });

  it('GC removes attachments the runtime no longer lists and keeps the listed ones', async () => {
    const keep = await add('pod-keep');
    await add('pod-drop');
    const gc = await tb.run('GC', {
      conf: tb.conf({ 'cni.dev/valid-attachments': [{ containerID: 'pod-keep', ifname: 'eth0' }] }),
    });
    expect(gc.code, gc.stdout).toBe(0);
    expect(tb.hostLink(tb.hostVeth('pod-drop'))).toBeUndefined();
    expect(tb.hostLink(tb.hostVeth('pod-keep'))).toBeDefined();
    const keepIps = (keep.result.ips as { address: string }[]).map((i) => i.address.split('/')[0]);
    expect(ipFiles().sort()).toEqual([...keepIps].sort());
    expect(endpointAddrs().sort()).toEqual([...keepIps].sort());
    expect(readdirSync(join(tb.stateDir, 'endpoints'))).toEqual([`${tb.hostVeth('pod-keep')}.json`]);

    // The 1.1.0 tag's key works too; an empty list collects the rest.
    const all = await tb.run('GC', { conf: tb.conf({ 'cni.dev/attachments': [] }) });
    expect(all.code, all.stdout).toBe(0);
    expect(tb.hostLink(tb.hostVeth('pod-keep'))).toBeUndefined();
    expect(ipFiles()).toEqual([]);
  });

  it('STATUS is ready with a bpffs root and code 50 without one', async () => {
    const ok = await tb.run('STATUS', {});
    expect(ok.code, ok.stdout).toBe(0);
    const noBpffs = await tb.run('STATUS', { conf: tb.conf({ bpfRoot: makeTempDir('braid-t-notbpffs') }) });
    expect(noBpffs.json).toMatchObject({ code: 50, msg: expect.stringMatching(/is not on a bpffs/) });
  });

  it('answers in the config version (0.4.0 results carry ips[].version), works IPv4-only, applies gsoMaxSize', async () => {
    const conf = tb.conf({ cniVersion: '0.4.0', gsoMaxSize: 196608, mtu: 9000 });
    (conf.ipam as Record<string, unknown>).ranges = [[{ subnet: SUBNET4 }]];
    const { ns, result } = await add('pod-v4', conf);
    expect(result.cniVersion).toBe('0.4.0');
    expect(result.ips).toEqual([expect.objectContaining({ version: '4', gateway: '169.254.1.1' })]);
    expect(result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
    for (const link of [
      await ns.ip(['-d', 'link', 'show', 'eth0']),
      await tb.host.ip(['-d', 'link', 'show', tb.hostVeth('pod-v4')]),
    ]) {
      expect(link).toMatch(/mtu 9000 /);
      expect(link).toMatch(/gso_max_size 196608/);
    }
  });

  it('loads the datapath once when several pods are added at the same time', async () => {
    const pods = await Promise.all([1, 2, 3, 4].map(() => createPod()));
    const runs = await Promise.all(pods.map((ns, i) => tb.run('ADD', { pod: ns, containerId: `pod-par-${i}` })));
    for (const r of runs) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readdirSync(join(tb.pins.path, 'veth')).filter((f) => f.startsWith('progs-'))).toHaveLength(1);
    expect(endpointAddrs()).toHaveLength(8);
  });
});
