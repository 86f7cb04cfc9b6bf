import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pinnedLinkInfo } from '../../src/bpf/tcx.ts';
import { bpfObjectDir, buildBpfObjects, makePinRoot, type PinRoot } from '../bpf/env.ts';
import {
  addressesOf,
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { runCommand } from '../helpers/exec.ts';
import { destroyAllNetns, type Netns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { stopEchoServers, tcpEcho } from '../helpers/traffic.ts';

// Policy state through braid's own ADD, DEL and GC (thin mode): a pod no policy selects costs no
// libbpf and no pins until a policy comes to select it; bpffs, not a cache directory, owns the
// interface ids, so lost caches and a second conf with another cniDir neither collide nor take
// away each other's programs.

const unavailable = braidUnavailable();
const VALID = 'cni.dev/valid-attachments';

function policy(name: string, app: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1beta1',
    kind: 'MultiNetworkPolicy',
    metadata: { name, namespace: 'default', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'lan' } },
    spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'], ...spec },
  };
}

const DB_FROM_WEB = policy('db-from-web', 'db', {
  ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
});

interface Record_ {
  ifaceId: number;
  containerId: string;
  ifname: string;
  links: { in: string; out: string };
}

describe.skipIf(unavailable !== undefined)('policy state: selection, bpffs ownership, lost caches, two cniDirs', () => {
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

  const env = { BRAID_BPF_DIR: bpfObjectDir };
  const conf = (extra: Record<string, unknown> = {}) =>
    bed.conf({ policy: { enabled: true, bpfRoot: pins.path, policyDir }, ...extra });
  const linksDir = () => join(pins.path, 'mnp', 'links');
  const slots = () => (existsSync(linksDir()) ? readdirSync(linksDir()).sort() : []);
  const records = (cniDir = bed.cniDir): Record_[] => {
    const dir = join(cniDir, 'policy', 'ifaces');
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.json'))
          .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record_)
      : [];
  };

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

  const run = (verb: string, name: string, ns: Netns, c = conf(), extraEnv: Record<string, string> = {}) =>
    bed.run(verb, {
      conf: c,
      extraEnv: { ...env, ...extraEnv },
      netns: ns,
      containerId: `ctr-${name}`,
      pod: { namespace: 'default', name },
    });

  async function applyPolicy(doc: unknown): Promise<void> {
    const manifest = join(makeTempDir('braid-t-mnp'), 'policy.yaml');
    writeFileSync(manifest, stringify(doc));
    const r = await runCommand(
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
    expect(r.code, r.stderr).toBe(0);
  }

  async function setUp(): Promise<void> {
    bed = await makeBraidBed();
    pins = makePinRoot();
    policyDir = join(bed.root, 'policies');
    await bed.macvlanNad('lan', `10.${94 + Math.floor(Math.random() * 5)}.0.0/24`);
  }

  /** The namespace's devices go in the background after the namespace: wait until the slot's links have none. */
  async function untilDead(rec: Record_): Promise<void> {
    for (let i = 0; i < 60 && pinnedLinkInfo(rec.links.in)?.ifindex !== 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(pinnedLinkInfo(rec.links.in)?.ifindex, `link of ${rec.ifname} after its namespace went`).toBe(0);
  }

  it('no policy selects the pod: ADD loads no libbpf and pins nothing; policy apply attaches it later; DEL leaves nothing', async () => {
    await setUp();
    const pods = { db: bed.pod, other: await bed.newPod() };
    writePod('db', 'db');
    writePod('other', 'other');
    for (const [name, ns] of Object.entries(pods)) {
      const r = await run('ADD', name, ns, conf(), { BRAID_TRACE: '1' });
      expectOk(r);
      expect(r.stderr).toContain('policy: nothing selects the pod, libbpf not loaded');
      expect(r.stderr).not.toContain('policy: libbpf loaded');
    }
    expect(slots(), 'pins after ADDs no policy selects').toEqual([]);
    expect(records()).toEqual([]);
    const dbLan = (await addressesOf(pods.db, 'net1'))[0]!.split('/')[0]!;
    expect(await tcpEcho(pods.db, pods.other, dbLan, { timeoutMs: 3000 })).toBe(true);

    // The policy comes to select db: `braid policy apply` attaches db's net1 (and only it).
    await applyPolicy(DB_FROM_WEB);
    expect(records().map((r) => [r.containerId, r.ifname])).toEqual([['ctr-db', 'net1']]);
    expect(slots()).toHaveLength(1);
    expect(await tcpEcho(pods.db, pods.other, dbLan, { timeoutMs: 1500 })).toBe(false);

    // A pod the policy selects at ADD is enforced before ADD answers.
    const db2 = await bed.newPod();
    writePod('db2', 'db');
    const r = await run('ADD', 'db2', db2, conf(), { BRAID_TRACE: '1' });
    expectOk(r);
    expect(r.stderr).toContain('policy: libbpf loaded');
    const db2Lan = (await addressesOf(db2, 'net1'))[0]!.split('/')[0]!;
    expect(await tcpEcho(db2, pods.other, db2Lan, { timeoutMs: 1500 })).toBe(false);

    for (const [name, ns] of [...Object.entries(pods), ['db2', db2] as const]) expectOk(await run('DEL', name, ns));
    expect(slots()).toEqual([]);
    expect(records()).toEqual([]);
    expect(readdirSync(join(bed.cniDir, 'policy', 'pods'))).toEqual([]);
    await bed.expectNothingLeft([...Object.values(pods), db2]);
  });

  it('a pod lost with its cache dir (no DEL): the next ADD replaces the stale pins, GC removes dead ones from bpffs', async () => {
    await setUp();
    await applyPolicy(policy('isolate-db', 'db', {}));
    writePod('a', 'db');
    writePod('b', 'db');
    writePod('c', 'db');
    const a = await bed.newPod();
    expectOk(await run('ADD', 'a', a));
    const [lost] = records();
    expect(lost!.ifaceId).toBe(1);
    // The runtime crashed: the namespace and braid's cache directory are gone, no DEL came.
    await a.destroy();
    rmSync(bed.cniDir, { recursive: true, force: true });
    await untilDead(lost!);

    const b = await bed.newPod();
    const added = await run('ADD', 'b', b);
    expectOk(added);
    const [mine] = records();
    expect(mine!.ifaceId, 'the stale slot is recognised and taken').toBe(1);
    expect(pinnedLinkInfo(mine!.links.in)?.ifindex).toBeGreaterThan(0);

    // c runs beside it; then b is lost too, cache and all. CNI GC finds b's dead slot from bpffs alone.
    const c = await bed.newPod();
    const gcConf = conf({ cniVersion: '1.1.0' });
    expectOk(await run('ADD', 'c', c, gcConf));
    const [, cRec] = records().sort((x, y) => x.ifaceId - y.ifaceId);
    await b.destroy();
    rmSync(bed.cniDir, { recursive: true, force: true });
    await untilDead(mine!);
    expect(slots()).toHaveLength(2);
    const gc = (valid: string[]) =>
      bed.run('GC', {
        conf: { ...gcConf, [VALID]: valid.map((id) => ({ containerID: id, ifname: 'eth0' })) },
        extraEnv: env,
      });
    expectOk(await gc(['ctr-c']));
    expect(slots(), "only c's live slot after GC").toEqual([String(cRec!.ifaceId)]);
    expect(pinnedLinkInfo(cRec!.links.in)?.ifindex).toBeGreaterThan(0);
    // c's DEL has no cache to go by; once its namespace is gone, GC takes its slot as well.
    expectOk(await run('DEL', 'c', c, gcConf));
    await c.destroy();
    await untilDead(cRec!);
    expectOk(await gc([]));
    expect(slots()).toEqual([]);
  });

  it('two confs with different cniDirs share one pin root: no collision, and a failed ADD removes only what it created', async () => {
    await setUp();
    await applyPolicy(policy('isolate-db', 'db', {}));
    // 129 different port sets: braid cannot enforce that on one interface (code 7 at attach).
    const ports = Array.from({ length: 129 }, (_, i) => ({ ports: [{ protocol: 'TCP', port: 2000 + i }] }));
    await applyPolicy(policy('too-many-ports', 'big', { ingress: ports }));
    const otherDir = makeTempDir('braid-t-cnidir2');
    const second = (extra: Record<string, unknown> = {}) => conf({ cniDir: otherDir, ...extra });
    writePod('one', 'db');
    writePod('two', 'db');
    writePod('big', 'big');
    const one = await bed.newPod();
    const two = await bed.newPod();
    expectOk(await run('ADD', 'one', one));
    const [mine] = records();
    // The second conf's own counter starts at 1 too; bpffs says 1 is taken.
    expectOk(await run('ADD', 'two', two, second()));
    const [theirs] = records(otherDir);
    expect(theirs!.ifaceId).not.toBe(mine!.ifaceId);

    const big = await bed.newPod();
    const failed = expectCniError(await run('ADD', 'big', big, second()), 7);
    expect(failed.msg).toMatch(/default\/big net1 on default\/lan/);
    expect(failed.msg).toContain('pin ');
    expect(await bed.linkNames(big), 'the failed ADD was rolled back').toEqual(['lo']);
    // The first conf's pod keeps its programs: same links, still attached.
    expect(pinnedLinkInfo(mine!.links.in)?.id).toBe((mine as Record_ & { linkIds: { in: number } }).linkIds.in);
    expect(pinnedLinkInfo(mine!.links.in)?.ifindex).toBeGreaterThan(0);
    expect(slots().sort()).toEqual([String(mine!.ifaceId), String(theirs!.ifaceId)].sort());

    expectOk(await run('DEL', 'two', two, second()));
    expect(
      pinnedLinkInfo(mine!.links.in)?.ifindex,
      "DEL in the other conf leaves this one's pod alone",
    ).toBeGreaterThan(0);
    expectOk(await run('DEL', 'one', one));
    expectOk(await run('DEL', 'big', big, second()));
    expect(slots()).toEqual([]);
  });
});
