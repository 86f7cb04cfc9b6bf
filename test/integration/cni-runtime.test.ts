import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CniResult } from '../../src/cni/result.ts';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  statusNetworkList,
} from '../../src/cni/runtime.ts';
import { RESULT_A, context, netList, rejection, runtimeBed, spies, verbs } from '../helpers/runtime-fixture.ts';

/** braid as the runtime of one delegate network, against spy plugins (real plugins: cni-runtime-real.test.ts). */

describe('J1 derived plugin config', () => {
  it('injects name and the negotiated version, passing every other key unchanged', async () => {
    const [a] = spies('a');
    const conf = {
      type: 'a',
      cniVersion: '0.0.1',
      name: 'wrong',
      vendor: { nested: [1, 'x', null], 'cni.dev/x': true },
      mtu: 9000,
    };
    await addNetworkList(netList([conf]), context());
    const seen = a!.callsOf('ADD')[0]!.config!;
    expect(seen).toEqual({ cniVersion: '1.1.0', name: 'testnet', type: 'a', vendor: conf.vendor, mtu: 9000 });
    expect(seen).not.toHaveProperty('prevResult');
    expect(seen).not.toHaveProperty('runtimeConfig');
  });

  it('sets per-plugin env from the context, CNI_ARGS unchanged (N3)', async () => {
    const [a] = spies('a');
    await addNetworkList(
      netList([{ type: 'a' }]),
      context({ cniPath: [join(runtimeBed.dir, 'none'), runtimeBed.dir] }),
    );
    expect(a!.callsOf('ADD')[0]!.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/fake',
      CNI_IFNAME: 'net1',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
      CNI_PATH: `${join(runtimeBed.dir, 'none')}:${runtimeBed.dir}`,
    });
  });
});

describe('J2 prevResult chaining', () => {
  it('gives plugin N the result of plugin N-1 and returns the last result', async () => {
    const [a, b, c] = spies('a', 'b', 'c');
    a!.setControl({ mode: 'result', result: RESULT_A });
    c!.setControl({ mode: 'result', result: { ...RESULT_A, ips: [{ address: '10.99.1.3/24' }] } });
    const result = await addNetworkList(netList([{ type: 'a' }, { type: 'b' }, { type: 'c' }]), context());
    expect(a!.callsOf('ADD')[0]!.config).not.toHaveProperty('prevResult');
    expect(b!.callsOf('ADD')[0]!.config!.prevResult).toEqual(RESULT_A);
    expect(c!.callsOf('ADD')[0]!.config!.prevResult).toEqual(RESULT_A);
    expect(result.ips).toEqual([{ address: '10.99.1.3/24' }]);
  });

  it('C2: a pass-through plugin returns its prevResult unchanged', async () => {
    const [a] = spies('a', 'noop');
    a!.setControl({ mode: 'result', result: RESULT_A });
    expect(await addNetworkList(netList([{ type: 'a' }, { type: 'noop' }]), context())).toEqual(RESULT_A);
  });

  it('K5: a result without cniVersion is read as the version the plugin was run at', async () => {
    const [a] = spies('a');
    a!.setControl({
      mode: 'result',
      result: { ips: [{ version: '4', address: '10.99.1.2/24' }] },
      supportedVersions: ['0.4.0'],
    });
    const result = await addNetworkList(netList([{ type: 'a' }]), context());
    expect(result).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.99.1.2/24' }] });
  });
});

describe('L7 per-delegate version negotiation', () => {
  it('runs a 1.0.0-capped delegate at 1.0.0 with a 1.0.0 prevResult and answers canonically', async () => {
    const [a, capped] = spies('a', 'capped');
    a!.setControl({ mode: 'result', result: RESULT_A });
    capped!.setControl({ mode: 'passthrough', supportedVersions: ['0.3.1', '0.4.0', '1.0.0'] });
    const result = await addNetworkList(netList([{ type: 'a' }, { type: 'capped' }]), context());
    const seen = capped!.callsOf('ADD')[0]!.config!;
    expect(seen.cniVersion).toBe('1.0.0');
    expect(seen.prevResult).toEqual({ ...RESULT_A, cniVersion: '1.0.0' });
    expect(result).toEqual(RESULT_A);
  });

  it('converts prevResult down to 0.4.0 and the answer back up', async () => {
    const [a, old] = spies('a', 'old');
    a!.setControl({ mode: 'result', result: RESULT_A });
    old!.setControl({ mode: 'passthrough', supportedVersions: ['0.3.0', '0.4.0'] });
    const result = await addNetworkList(netList([{ type: 'a' }, { type: 'old' }]), context());
    const prev = old!.callsOf('ADD')[0]!.config!.prevResult;
    expect(prev.cniVersion).toBe('0.4.0');
    expect(prev.ips[0].version).toBe('4');
    expect(prev.interfaces[0]).toEqual({ name: 'net1', mac: 'aa:bb:cc:dd:ee:01', sandbox: '/var/run/netns/fake' });
    expect(result.interfaces?.[0]).not.toHaveProperty('mtu');
    expect(result.cniVersion).toBe('1.1.0');
  });

  it('fails with code 1 when a delegate shares no version with the list', async () => {
    const [a] = spies('a');
    a!.setControl({ mode: 'passthrough', supportedVersions: ['1.0.0'] });
    const e = await rejection(addNetworkList(netList([{ type: 'a' }], { cniVersion: '0.4.0' }), context()));
    expect(e.code).toBe(1);
    expect(e.message).toContain('net1/a');
    expect(verbs(a!)).toEqual([]);
  });

  it('runs VERSION once per binary across ADD and DEL (cache)', async () => {
    const [a] = spies('a');
    const list = netList([{ type: 'a' }]);
    const result = await addNetworkList(list, context());
    await delNetworkList(list, context(), result);
    expect(a!.callsOf('VERSION')).toHaveLength(1);
    expect(readdirSync(join(runtimeBed.dir, 'versions'))).toEqual(['plugin-versions.json']);
  });
});

describe('J3 runtimeConfig from capabilities', () => {
  it('gives each plugin only the capability args it declares', async () => {
    const [pm, plain, tuning] = spies('pm', 'plain', 'tuning');
    const portMappings = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }];
    const capabilityArgs = { portMappings, mac: 'c2:11:22:33:44:55', ips: ['10.99.1.9/24'] };
    await addNetworkList(
      netList([
        { type: 'pm', capabilities: { portMappings: true, mac: false } },
        { type: 'plain' },
        { type: 'tuning', capabilities: { mac: true }, runtimeConfig: { keep: 1 } },
      ]),
      context({ capabilityArgs }),
    );
    expect(pm!.callsOf('ADD')[0]!.config!.runtimeConfig).toEqual({ portMappings });
    expect(pm!.callsOf('ADD')[0]!.config!.capabilities).toEqual({ portMappings: true, mac: false });
    expect(plain!.callsOf('ADD')[0]!.config).not.toHaveProperty('runtimeConfig');
    expect(tuning!.callsOf('ADD')[0]!.config!.runtimeConfig).toEqual({ keep: 1, mac: 'c2:11:22:33:44:55' });
  });
});

describe('M1/M3 finding and running plugins', () => {
  it('reports a missing plugin with the search path (code 7) before running anything', async () => {
    const [a] = spies('a');
    const e = await rejection(addNetworkList(netList([{ type: 'a' }, { type: 'nope' }]), context()));
    expect(e.code).toBe(7);
    expect(e.message).toBe(`failed to find plugin "nope" in path [${runtimeBed.dir}]`);
    expect(verbs(a!)).toEqual([]);
  });

  it('forwards delegate stderr', async () => {
    spies('a');
    await addNetworkList(netList([{ type: 'a' }]), context());
    expect(runtimeBed.stderr.text()).toContain('spy a: ADD');
  });

  it('validates the container id and ifname early (A3/A4)', async () => {
    spies('a');
    expect((await rejection(addNetworkList(netList([{ type: 'a' }]), context({ ifname: 'x'.repeat(16) })))).code).toBe(
      4,
    );
    expect((await rejection(addNetworkList(netList([{ type: 'a' }]), context({ containerId: '' })))).code).toBe(3);
  });
});

describe('B4/B5 delegate failures', () => {
  it('keeps the delegate code 11, prefixed with the label', async () => {
    const [a] = spies('a');
    a!.setControl({ mode: 'error', code: 11, msg: 'try later', details: 'lock', onlyFor: ['ADD'] });
    const e = await rejection(addNetworkList(netList([{ type: 'a' }]), context()));
    expect(e).toMatchObject({ code: 11, message: 'net1/a: try later', details: 'lock' });
  });

  it('turns non-JSON failure output into 101', async () => {
    const [a] = spies('a');
    a!.setControl({ mode: 'garbage', msg: 'panic: nil map', onlyFor: ['ADD'] });
    const e = await rejection(addNetworkList(netList([{ type: 'a' }]), context()));
    expect(e.code).toBe(101);
    expect(e.message).toContain('panic: nil map');
  });

  it('turns rc 0 with garbage on ADD into 101', async () => {
    const [a] = spies('a');
    a!.setControl({ mode: 'garbage', msg: 'all good!', exitCode: 0, onlyFor: ['ADD'] });
    const e = await rejection(addNetworkList(netList([{ type: 'a' }]), context()));
    expect(e.code).toBe(101);
    expect(e.message).toContain('"all good!');
  });

  it('turns a structurally invalid result (K2) into 101', async () => {
    const [a] = spies('a');
    a!.setControl({
      mode: 'result',
      result: { cniVersion: '1.1.0', ips: [{ address: '10.99.1.2/24', interface: 3 }] },
    });
    const e = await rejection(addNetworkList(netList([{ type: 'a' }]), context()));
    expect(e.code).toBe(101);
    expect(e.message).toContain('ips[0].interface');
  });

  it('kills a hung delegate and its children within the bound (code 100)', async () => {
    const [a] = spies('a');
    a!.setControl({ mode: 'sleep', sleepSeconds: 30, onlyFor: ['ADD'] });
    const started = Date.now();
    const e = await rejection(addNetworkList(netList([{ type: 'a' }]), context({ timeoutMs: 800 })));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(e).toMatchObject({ code: 100, message: 'delegate net1/a timed out after 800 ms and was killed' });
    await new Promise((r) => setTimeout(r, 100));
    for (const pid of [a!.callsOf('ADD')[0]!.pid, a!.sleepPid()!]) {
      const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : 'State: gone';
      expect(status).toMatch(/State:\s+(Z|gone)/);
    }
  });
});

describe('D4 DEL', () => {
  it('runs in reverse order, continues past a failure and reports it at the end', async () => {
    const [a, b, c] = spies('a', 'b', 'c');
    b!.setControl({ mode: 'error', code: 11, msg: 'b is busy', onlyFor: ['DEL'] });
    const e = await rejection(
      delNetworkList(netList([{ type: 'a' }, { type: 'b' }, { type: 'c' }]), context(), RESULT_A as CniResult),
    );
    expect(e).toMatchObject({ code: 11, message: 'net1/b: b is busy' });
    const order = [a, b, c].map((s) => ({ name: s!.name, time: s!.callsOf('DEL')[0]!.time }));
    order.sort((x, y) => (x.time < y.time ? -1 : 1));
    expect(order.map((o) => o.name)).toEqual(['c', 'b', 'a']);
  });

  it('keeps the first failure code and names the others', async () => {
    const [a, b] = spies('a', 'b');
    a!.setControl({ mode: 'error', code: 7, msg: 'a broke', onlyFor: ['DEL'] });
    b!.setControl({ mode: 'error', code: 11, msg: 'b broke', onlyFor: ['DEL'] });
    const e = await rejection(delNetworkList(netList([{ type: 'a' }, { type: 'b' }]), context()));
    expect(e.code).toBe(11);
    expect(e.message).toContain('b broke');
    expect(e.message).toContain('a broke');
  });

  it('still DELs the other plugins when one binary is missing', async () => {
    const [a] = spies('a');
    const e = await rejection(delNetworkList(netList([{ type: 'a' }, { type: 'gone' }]), context()));
    expect(e.code).toBe(7);
    expect(verbs(a!)).toEqual(['DEL']);
  });

  it('passes the prevResult in each plugin version, none below 0.4.0', async () => {
    const [a, old] = spies('a', 'old');
    old!.setControl({ mode: 'passthrough', supportedVersions: ['0.3.1'] });
    await delNetworkList(netList([{ type: 'a' }, { type: 'old' }]), context(), RESULT_A as CniResult);
    expect(a!.callsOf('DEL')[0]!.config!.prevResult).toEqual(RESULT_A);
    expect(old!.callsOf('DEL')[0]!.config).not.toHaveProperty('prevResult');
    expect(old!.callsOf('DEL')[0]!.config!.cniVersion).toBe('0.3.1');
  });

  it('works without a prevResult', async () => {
    const [a] = spies('a');
    await delNetworkList(netList([{ type: 'a' }]), context());
    expect(a!.callsOf('DEL')[0]!.config).not.toHaveProperty('prevResult');
  });
});

describe('E1/E6 CHECK', () => {
  it('checks each plugin with the prevResult in its version', async () => {
    const [a, capped] = spies('a', 'capped');
    capped!.setControl({ mode: 'passthrough', supportedVersions: ['1.0.0'] });
    await checkNetworkList(netList([{ type: 'a' }, { type: 'capped' }]), context(), RESULT_A as CniResult);
    expect(a!.callsOf('CHECK')[0]!.config!.prevResult).toEqual(RESULT_A);
    expect(capped!.callsOf('CHECK')[0]!.config!.prevResult.cniVersion).toBe('1.0.0');
  });

  it('skips everything with disableCheck', async () => {
    const [a] = spies('a');
    await checkNetworkList(netList([{ type: 'a' }], { disableCheck: true }), context(), RESULT_A as CniResult);
    expect(a!.calls()).toEqual([]);
  });

  it('skips plugins below 0.4.0', async () => {
    const [a, old] = spies('a', 'old');
    old!.setControl({ mode: 'passthrough', supportedVersions: ['0.3.0', '0.3.1'] });
    await checkNetworkList(netList([{ type: 'old' }, { type: 'a' }]), context(), RESULT_A as CniResult);
    expect(verbs(old!)).toEqual([]);
    expect(verbs(a!)).toEqual(['CHECK']);
  });

  it('stops at the first failure', async () => {
    const [a, b] = spies('a', 'b');
    a!.setControl({ mode: 'error', code: 999, msg: 'veth gone', onlyFor: ['CHECK'] });
    const e = await rejection(
      checkNetworkList(netList([{ type: 'a' }, { type: 'b' }]), context(), RESULT_A as CniResult),
    );
    expect(e.code).toBe(999);
    expect(verbs(b!)).toEqual([]);
  });
});

describe('F STATUS', () => {
  it('asks plugins that speak 1.1.0, with only name and version injected and no container env', async () => {
    const [a, capped] = spies('a', 'capped');
    capped!.setControl({ mode: 'passthrough', supportedVersions: ['1.0.0'] });
    await statusNetworkList(
      netList([{ type: 'a', capabilities: { mac: true }, runtimeConfig: { static: 1 } }, { type: 'capped' }]),
      context({ capabilityArgs: { mac: 'c2:11:22:33:44:55' } }),
    );
    const call = a!.callsOf('STATUS')[0]!;
    expect(call.config).toEqual({
      cniVersion: '1.1.0',
      name: 'testnet',
      type: 'a',
      capabilities: { mac: true },
      runtimeConfig: { static: 1 },
    });
    expect(call.env).toMatchObject({
      CNI_CONTAINERID: '',
      CNI_NETNS: '',
      CNI_IFNAME: '',
      CNI_ARGS: '',
      CNI_PATH: runtimeBed.dir,
    });
    expect(verbs(capped!)).toEqual([]);
  });

  it('passes on a delegate 50', async () => {
    const [a, b] = spies('a', 'b');
    a!.setControl({ mode: 'error', code: 50, msg: 'no leases', onlyFor: ['STATUS'] });
    expect((await rejection(statusNetworkList(netList([{ type: 'a' }, { type: 'b' }]), context()))).code).toBe(50);
    expect(verbs(b!)).toEqual([]);
  });

  it('asks nobody for a list below 1.1.0', async () => {
    const [a] = spies('a');
    await statusNetworkList(netList([{ type: 'a' }], { cniVersion: '1.0.0' }), context());
    expect(verbs(a!)).toEqual([]);
  });

  it('reports a missing plugin binary as 50 (ADD could not work)', async () => {
    const e = await rejection(statusNetworkList(netList([{ type: 'nope' }]), context()));
    expect(e.code).toBe(50);
    expect(e.message).toContain('failed to find plugin "nope"');
  });
});

describe('G GC', () => {
  const valid = [{ containerID: 'c0ffee', ifname: 'net1' }];

  it('sends the valid set under both keys, no runtimeConfig or prevResult, no container env (J4, G5)', async () => {
    const [a] = spies('a');
    await gcNetworkList(
      netList([{ type: 'a', capabilities: { mac: true } }]),
      context({ capabilityArgs: { mac: 'x' } }),
      valid,
    );
    const call = a!.callsOf('GC')[0]!;
    expect(call.config).toEqual({
      cniVersion: '1.1.0',
      name: 'testnet',
      type: 'a',
      capabilities: { mac: true },
      'cni.dev/valid-attachments': valid,
      'cni.dev/attachments': valid,
    });
    expect(call.env).toMatchObject({ CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_ARGS: '' });
  });

  it('skips everything with disableGC and plugins below 1.1.0', async () => {
    const [a, capped] = spies('a', 'capped');
    capped!.setControl({ mode: 'passthrough', supportedVersions: ['1.0.0'] });
    await gcNetworkList(netList([{ type: 'a' }], { disableGC: true }), context(), valid);
    expect(a!.calls()).toEqual([]);
    await gcNetworkList(netList([{ type: 'capped' }]), context(), valid);
    expect(verbs(capped!)).toEqual([]);
  });

  it('continues past a failing plugin and reports it (G3)', async () => {
    const [a, b] = spies('a', 'b');
    a!.setControl({ mode: 'error', code: 11, msg: 'busy', onlyFor: ['GC'] });
    const e = await rejection(gcNetworkList(netList([{ type: 'a' }, { type: 'b' }]), context(), valid));
    expect(e.code).toBe(11);
    expect(verbs(b!)).toEqual(['GC']);
  });
});

// ---------------------------------------------------------------------------------------------
// Debian's 1.1.1 plugins from /usr/lib/cni.
