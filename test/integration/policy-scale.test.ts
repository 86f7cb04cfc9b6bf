import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { isRoot } from '../bpf/env.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { stopEchoServers } from '../helpers/traffic.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod, podReaches } from './policy-testbed.ts';

/**
 * The policy work of one ADD or DEL, counted (interfaces programs were attached to, other
 * interfaces recompiled, map entries written and deleted), not timed: it depends on which
 * policies name the pod, never on how many pods the node has.
 */
const NET = 'default/net1';
let tb: PolicyTestbed | undefined;

afterEach(async () => {
  stopEchoServers();
  await tb?.cleanup();
  tb = undefined;
  await destroyAllNetns();
  cleanupTemps();
});

const POLICY = {
  apiVersion: 'k8s.cni.cncf.io/v1beta1',
  kind: 'MultiNetworkPolicy',
  metadata: { name: 'allow-clients', namespace: 'test', annotations: { 'k8s.v1.cni.cncf.io/policy-for': NET } },
  spec: {
    podSelector: { matchLabels: { app: 'server' } },
    policyTypes: ['Ingress'],
    ingress: [
      { from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'TCP', port: 5555 }] },
    ],
  },
};

const reaches = (server: TestPod, client: TestPod, addr: string) => podReaches(server, client, addr, 5555);

describe.skipIf(!isRoot)('policy work per ADD and DEL does not grow with the node', () => {
  it('an ADD touches its own interfaces and those whose policies name it, whatever else the node runs', async () => {
    const bed = (tb = await makePolicyTestbed());
    bed.apply(stringify(POLICY));
    let n = 1;
    const add = async (name: string, app: string) => {
      const pod = await bed.pod(name, { app });
      const address = `10.79.1.${++n}`;
      const ips = await bed.plugin(pod, 'bridge', {
        bridge: 'brsc0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `${address}/24` }] },
      });
      return { pod, address, work: bed.admit(pod, NET, 'net1', ips) };
    };

    const server = await add('server', 'server');
    expect(server.work).toMatchObject({ attached: 1, touched: 0 });
    // A pod no policy selects or names: no programs, nothing else touched, not one map write.
    const idle = { attached: 0, touched: 0, written: 0, deleted: 0 };
    expect((await add('other-0', 'other')).work).toEqual(idle);
    const small = await add('client-0', 'client');
    expect(small.work).toMatchObject({ attached: 0, touched: 1 });
    expect(small.work.written).toBeGreaterThan(0);

    const others: TestPod[] = [];
    for (let i = 1; i <= 4; i++) {
      const o = await add(`other-${i}`, 'other');
      expect(o.work, `other-${i} with ${i + 2} pods on the node`).toEqual(idle);
      others.push(o.pod);
    }
    const large = await add('client-1', 'client');
    expect(large.work, 'the same ADD with four more pods on the node').toEqual(small.work);

    // The counted work is the enforcement: the new client is let in, the others are not.
    expect(await reaches(server.pod, large.pod, server.address)).toBe(true);
    expect(await reaches(server.pod, others[0]!, server.address)).toBe(false);

    // DEL: an unrelated pod touches nothing; a client takes its address out of the server's entries.
    expect(bed.release(others[1]!)).toEqual(idle);
    const gone = bed.release(small.pod);
    expect(gone).toMatchObject({ touched: 1 });
    expect(gone.deleted).toBeGreaterThan(0);
    expect(readdirSync(join(bed.pins.path, 'mnp', 'links')), 'only the server has programs').toHaveLength(1);
  });
});
