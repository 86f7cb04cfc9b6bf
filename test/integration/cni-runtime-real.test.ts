import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../src/cni/args.ts';
import type { NetworkConfigList, PluginConf } from '../../src/cni/netconf.ts';
import { addNetworkList, checkNetworkList, delNetworkList } from '../../src/cni/runtime.ts';
import type { DelegateContext } from '../../src/cni/list-context.ts';
import { context, netList, rejection, runtimeBed } from '../helpers/runtime-fixture.ts';

/** braid as the runtime of one delegate network, against Debian's 1.1.1 plugins in /usr/lib/cni. */

const REAL = '/usr/lib/cni';
const isRoot = process.getuid?.() === 0;
const haveReal = existsSync(join(REAL, 'bridge')) && existsSync(join(REAL, 'host-local'));

describe.skipIf(!haveReal)('N2/B4 host-local as a delegate (no netns needed)', () => {
  const hostLocal = (dataDir: string): PluginConf => ({
    type: 'host-local',
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.252.0.0/24' }]] },
  });

  it('honours IP= when IgnoreUnknown=1 is present', async () => {
    const dataDir = join(runtimeBed.dir, 'ipam');
    const ctx = context({ cniPath: [REAL], args: parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=foo;IP=10.252.0.50') });
    const result = await addNetworkList(netList([hostLocal(dataDir)]), ctx);
    expect(result.ips).toEqual([{ address: '10.252.0.50/24', gateway: '10.252.0.1' }]);
    expect(existsSync(join(dataDir, 'testnet', '10.252.0.50'))).toBe(true);
    await delNetworkList(netList([hostLocal(dataDir)]), ctx, result);
    expect(existsSync(join(dataDir, 'testnet', '10.252.0.50'))).toBe(false);
  });

  it('keeps host-local 999 for unknown args without IgnoreUnknown', async () => {
    const ctx = context({ cniPath: [REAL], args: parseCniArgs('K8S_POD_NAME=foo') });
    const e = await rejection(addNetworkList(netList([hostLocal(join(runtimeBed.dir, 'ipam'))]), ctx));
    expect(e.code).toBe(999);
    expect(e.message).toMatch(/^net1\/host-local: /);
  });
});

describe.skipIf(!isRoot || !haveReal)('bridge + tuning conflist in real network namespaces', () => {
  const suffix = randomBytes(3).toString('hex');
  const hostNs = `braid-t-h-${suffix}`;
  const podNs = `braid-t-c-${suffix}`;
  const subnet = `10.251.${randomBytes(1)[0]}`;
  const mac = 'c2:11:22:33:44:55';
  const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
  let wrappers: string;
  let dataDir: string;
  let list: NetworkConfigList;
  let ctx: DelegateContext;

  beforeEach(() => {
    ip('netns', 'add', hostNs);
    ip('netns', 'add', podNs);
    ip('-n', hostNs, 'link', 'set', 'lo', 'up');
    // The bridge plugin acts in the runtime's netns, so every plugin runs inside the fake host.
    wrappers = join(runtimeBed.dir, 'wrappers');
    mkdirSync(wrappers);
    for (const type of ['bridge', 'host-local', 'tuning']) {
      const p = join(wrappers, type);
      writeFileSync(p, `#!/bin/sh\nexec nsenter --net=/run/netns/${hostNs} ${REAL}/${type}\n`);
      chmodSync(p, 0o755);
    }
    dataDir = join(runtimeBed.dir, 'ipam');
    list = netList(
      [
        {
          type: 'bridge',
          bridge: `brt${suffix}`,
          isGateway: true,
          ipam: {
            type: 'host-local',
            dataDir,
            ranges: [[{ subnet: `${subnet}.0/24`, gateway: `${subnet}.1` }]],
            routes: [{ dst: '0.0.0.0/0', gw: `${subnet}.1` }],
          },
        },
        { type: 'tuning', capabilities: { mac: true } },
      ],
      { name: `braid-t-${suffix}` },
    );
    ctx = context({
      netns: `/run/netns/${podNs}`,
      cniPath: [wrappers, REAL],
      capabilityArgs: { mac },
      env: process.env,
    });
  });

  afterEach(() => {
    for (const ns of [podNs, hostNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  });

  it('ADD builds the interface (tuning capped at 1.0.0 gets a 1.0.0 prevResult), CHECK passes, DEL removes it', async () => {
    const result = await addNetworkList(list, ctx);
    expect(result.cniVersion).toBe('1.1.0');
    expect(result.ips?.[0]?.address).toBe(`${subnet}.2/24`);
    const podIf = result.interfaces?.find((i) => i.sandbox === `/run/netns/${podNs}`);
    expect(podIf).toMatchObject({ name: 'net1', mac });

    const [link] = JSON.parse(ip('-n', podNs, '-j', 'addr', 'show', 'net1')) as {
      address: string;
      addr_info: { local: string; prefixlen: number }[];
    }[];
    expect(link?.address).toBe(mac);
    expect(link?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toContain(`${subnet}.2/24`);
    expect(existsSync(join(dataDir, list.name, `${subnet}.2`))).toBe(true);

    await checkNetworkList(list, ctx, result);

    await delNetworkList(list, ctx, result);
    expect(JSON.parse(ip('-n', podNs, '-j', 'link', 'show'))).toHaveLength(1); // only lo
    expect(existsSync(join(dataDir, list.name, `${subnet}.2`))).toBe(false);
  });

  it('CHECK fails once the pod interface is gone, with the delegate error kept', async () => {
    const result = await addNetworkList(list, ctx);
    ip('-n', podNs, 'link', 'del', 'net1');
    const e = await rejection(checkNetworkList(list, ctx, result));
    expect(e.code).not.toBe(0);
    expect(e.message).toMatch(/^net1\/bridge: /);
    await delNetworkList(list, ctx, result);
  });

  it('D1: a repeated DEL succeeds', async () => {
    const result = await addNetworkList(list, ctx);
    await delNetworkList(list, ctx, result);
    await delNetworkList(list, ctx, result);
  });
});
