import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  addressesOf,
  braidBinary,
  braidUnavailable,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { runCommand } from '../helpers/exec.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { stopEchoServers, tcpEcho } from '../helpers/traffic.ts';

// braid's ADD attaches the MultiNetworkPolicy programs to every pod interface and DEL takes them
// away: the meta plugin, the local policy store and the eBPF datapath together, with real traffic
// over a macvlan secondary network.

const unavailable = braidUnavailable();

const POLICY = {
  apiVersion: 'k8s.cni.cncf.io/v1beta1',
  kind: 'MultiNetworkPolicy',
  metadata: { name: 'db-from-web', namespace: 'default', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'lan' } },
  spec: {
    podSelector: { matchLabels: { app: 'db' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
  },
};

describe.skipIf(unavailable !== undefined)('braid enforces MultiNetworkPolicy on the interfaces it creates', () => {
  let bed: BraidBed;
  let pins: PinRoot;
  let policyDir: string;

  beforeAll(() => {
    buildBpfObjects();
    braidBinary();
  });

  afterEach(async () => {
    stopEchoServers();
    await destroyAllNetns();
    pins?.cleanup();
    cleanupTemps();
  });

  const conf = () => bed.conf({ policy: { enabled: true, bpfRoot: pins.path, policyDir } });
  const env = { BRAID_BPF_DIR: bpfObjectDir };

  function writePod(name: string, app: string): void {
    const dir = join(bed.podDir, 'default');
    mkdirSync(dir, { recursive: true });
    const metadata = {
      name,
      namespace: 'default',
      labels: { app },
      annotations: { 'k8s.v1.cni.cncf.io/networks': 'lan' },
    };
    writeFileSync(join(dir, `${name}.yaml`), stringify({ apiVersion: 'v1', kind: 'Pod', metadata }));
  }

  async function add(name: string, ns: Netns): Promise<void> {
    expectOk(
      await bed.run('ADD', {
        conf: conf(),
        extraEnv: env,
        netns: ns,
        containerId: `ctr-${name}`,
        pod: { namespace: 'default', name },
      }),
    );
  }

  async function del(name: string, ns: Netns): Promise<void> {
    expectOk(
      await bed.run('DEL', {
        conf: conf(),
        extraEnv: env,
        netns: ns,
        containerId: `ctr-${name}`,
        pod: { namespace: 'default', name },
      }),
    );
  }

  it('lets the selected peer in, drops the others, and leaves no pins after DEL', async () => {
    bed = await makeBraidBed();
    pins = makePinRoot();
    policyDir = join(bed.root, 'policies');
    await bed.macvlanNad('lan', '10.93.0.0/24');
    const manifest = join(bed.root, 'policy.yaml');
    writeFileSync(manifest, stringify(POLICY));
    const applied = await runCommand(
      [
        braidBinary(),
        'policy',
        'apply',
        '-f',
        manifest,
        '--policy-dir',
        policyDir,
        '--bpf-root',
        pins.path,
        '--pod-dir',
        bed.podDir,
        '--cache-dir',
        bed.cniDir,
      ],
      { env: { ...process.env, ...env } },
    );
    expect(applied.code, applied.stderr).toBe(0);

    const pods = { web: bed.pod, other: await bed.newPod(), db: await bed.newPod() };
    writePod('web', 'web');
    writePod('other', 'other');
    writePod('db', 'db');
    // Peers first: the db interface's rules are compiled from the addresses the others got.
    await add('web', pods.web);
    await add('other', pods.other);
    await add('db', pods.db);

    const dbLan = (await addressesOf(pods.db, 'net1'))[0]!.split('/')[0]!;
    expect(await tcpEcho(pods.db, pods.web, dbLan, { timeoutMs: 3000 })).toBe(true);
    expect(await tcpEcho(pods.db, pods.other, dbLan, { timeoutMs: 1500 })).toBe(false);
    // The cluster network (eth0) is not a network the policy is for: other still reaches db there.
    const dbEth0 = (await addressesOf(pods.db, 'eth0'))[0]!.split('/')[0]!;
    expect(await tcpEcho(pods.db, pods.other, dbEth0, { timeoutMs: 3000 })).toBe(true);

    const shown = await runCommand(
      [
        braidBinary(),
        'policy',
        'show',
        '--policy-dir',
        policyDir,
        '--bpf-root',
        pins.path,
        '--pod-dir',
        bed.podDir,
        '--cache-dir',
        bed.cniDir,
      ],
      { env: { ...process.env, ...env } },
    );
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('db-from-web');

    const links = join(pins.path, 'mnp', 'links');
    expect(readdirSync(links).length).toBeGreaterThan(0);
    for (const [name, ns] of Object.entries(pods)) await del(name, ns);
    expect(existsSync(links) ? readdirSync(links) : []).toEqual([]);
    expect(readdirSync(join(bed.cniDir, 'policy', 'ifaces'))).toEqual([]);
    await bed.expectNothingLeft(Object.values(pods));
  });
});
