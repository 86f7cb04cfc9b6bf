import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startPinJanitor } from '../../src/agent/pin-janitor.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { HeldDatapath } from '../../src/policy/held-datapath.ts';
import { stateDirOf } from '../../src/policy/runtime.ts';
import { isRoot } from '../bpf/env.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { makePolicyTestbed, type PolicyTestbed } from './policy-testbed.ts';

// braid-agent's periodic GC: a pod whose namespace vanished without DEL loses its link slot and
// registry record; a live pod keeps its own.
let tb: PolicyTestbed | undefined;
let stop: (() => void) | undefined;
let held: HeldDatapath | undefined;

afterEach(async () => {
  stop?.();
  held?.close();
  await tb?.cleanup();
  [tb, stop, held] = [undefined, undefined, undefined];
  await destroyAllNetns();
  cleanupTemps();
});

describe.skipIf(!isRoot)('agent pin janitor', () => {
  it('removes the slots of interfaces whose device is gone, periodically, and keeps live ones', async () => {
    const bed = (tb = await makePolicyTestbed());
    const pods = [await bed.pod('gone', { app: 'x' }), await bed.pod('live', { app: 'x' })];
    for (const [i, pod] of pods.entries()) {
      const ips = await bed.plugin(pod, 'bridge', {
        bridge: 'brjn0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `10.79.3.${i + 2}/24` }] },
      });
      bed.attach(pod, 'default/net1', 'net1', ips);
    }
    const links = join(bed.pins.path, 'mnp', 'links');
    expect(readdirSync(links)).toHaveLength(2);
    const live = String(pods[1]!.attached[0]!.ifaceId);
    await pods[0]!.ns.destroy();
    pods[0]!.attached = [];
    held = new HeldDatapath({ bpfRoot: bed.opts.bpfRoot, stateDir: stateDirOf(bed.opts) });
    const logs: string[] = [];
    const host = bed.host.path;
    // The agent runs in the node's namespace; here that is the test bed's host namespace.
    stop = startPinJanitor(bed.opts, held, 50, (l) => logs.push(l));
    const gc = (): boolean => withNetns(host, () => readdirSync(links).length === 1);
    for (let i = 0; i < 100 && !gc(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(links)).toEqual([live]);
    expect(readdirSync(join(bed.opts.cacheDir, 'policy', 'ifaces')).filter((f) => f.endsWith('.json'))).toEqual([
      `${live}.json`,
    ]);
    expect(
      logs.some((l) => /removed the programs of 1 interface/.test(l)),
      logs.join('\n'),
    ).toBe(true);
    expect(existsSync(join(links, live, 'in'))).toBe(true);
  });
});
