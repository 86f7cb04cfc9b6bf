import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostVethName } from '../../src/veth/names.ts';
import { makePinRoot, type PinRoot } from '../bpf/env.ts';
import { mustRun, runCommand, type CommandResult } from '../helpers/exec.ts';
import { createNetns, destroyAllNetns, parseIpJson, type IpAddrs, type Netns } from '../helpers/netns.ts';
import { createPodman, podmanUnavailable, type Podman } from '../helpers/podman.ts';
import { runPlugin, type PluginRun } from '../helpers/run-plugin.ts';
import {
  assetDir,
  assetDirs,
  codeCacheDirs,
  codeCaches,
  entries,
  expectMultiCall,
  expectVersion,
  hostRoot,
  installBySea,
  runSea,
} from '../helpers/sea-files.ts';
import {
  braidPlugin,
  expectNoVethAttachment,
  leases,
  linkPins,
  macvlanNadOn,
  vethNetworkIn,
  type VethNetwork,
} from '../helpers/sea-pod.ts';
import { useSea, type SeaCommand } from '../helpers/sea.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// braid as a host gets it: one Node 24 single executable (scripts/build-sea.mjs) under three names,
// installed by itself and run by a real runtime, far from the repo and its node_modules. Every run
// gets BRAID_ASSET_DIR in a temp dir, so nothing is written to /run/braid.

const isRoot = process.getuid?.() === 0;
const podmanReason = podmanUnavailable();
const DEFAULT_ASSET_ROOT = '/run/braid';
const hex = () => randomBytes(3).toString('hex');

const sea = useSea();
/** Host links (macvlan masters) to delete after each test; namespaces go with destroyAllNetns. */
const hostLinks: string[] = [];
let pins: PinRoot | undefined;
let podman: Podman | undefined;
let forwardingBefore: string | undefined;

afterEach(async () => {
  await podman?.destroy();
  podman = undefined;
  for (const link of hostLinks.splice(0)) await runCommand(['ip', 'link', 'del', link]);
  await destroyAllNetns();
  pins?.cleanup();
  pins = undefined;
  // braid-veth turns on forwarding in the namespace it runs in; under podman that is the machine's.
  if (forwardingBefore !== undefined) writeFileSync('/proc/sys/net/ipv4/ip_forward', forwardingBefore);
  forwardingBefore = undefined;
  cleanupTemps();
});

/** braid's per-attachment records (cniDir/versions/ holds what delegates speak, and stays). */
const cacheRecords = (cniDir: string): string[] => entries(cniDir).filter((f) => f.endsWith('.json'));
const linkNames = async (ns: Netns): Promise<string[]> => (await ns.links()).map((l) => l.ifname);
/** `<prefix>.<n>/<len>` for a three-octet prefix such as 10.214.7. */
const addressIn = (prefix: string, len: number) =>
  expect.stringMatching(new RegExp(`^${prefix.replaceAll('.', '\\.')}\\.\\d+/${len}$`));
/** braid-veth's conflist, its pins under this file's throwaway bpffs root. */
const vethNetwork = (subnet: string): VethNetwork => vethNetworkIn((pins ??= makePinRoot()).path, subnet);
/** A macvlan NAD on a new host link, deleted after the test. */
const macvlanNad = (nadDir: string, prefix: string) => macvlanNadOn(`mvs${hex()}`, hostLinks, nadDir, prefix);

describe('braid as one single executable', () => {
  it('is one ELF file under three names that answers VERSION with nothing but CNI_COMMAND, and dispatches by name', async () => {
    const names: SeaCommand[] = ['braid', 'braid-veth', 'braid-agent'];
    for (const name of names) {
      const fd = openSync(sea.path(name), 'r');
      const head = Buffer.alloc(4);
      readSync(fd, head, 0, 4, 0);
      closeSync(fd);
      expect(head.toString('latin1'), `${name} is not an ELF executable`).toBe('\x7fELF');
      expect(statSync(sea.path(name)).mode & 0o111).toBe(0o111);
    }
    expect(new Set(names.map((name) => statSync(sea.path(name)).ino)).size, 'one file under three names').toBe(1);
    // The host layout: the native front door, and the single executable as braid-node and braid-veth.
    expect(readFileSync(sea.host('braid')).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(statSync(sea.host('braid')).size, 'the front door is not the single executable').toBeLessThan(
      4 * 1024 * 1024,
    );
    for (const name of ['braid-node', 'braid-veth'] as const)
      expect(statSync(sea.host(name)).ino, name).toBe(statSync(sea.path('braid')).ino);

    const assets = assetDir();
    await expectVersion(sea.path('braid'), assets);
    await expectVersion(sea.path('braid-veth'), assets);
    expect(assetDirs(assets), 'VERSION needs none of the bundled files').toEqual([]);
    expect(codeCaches(assets)).toEqual(['braid-VERSION.bin', 'braid-veth-VERSION.bin']);
    await expectMultiCall(sea.dir, assets);
    await expectVersion(sea.host('braid'), assets);
    await expectMultiCall(join(sea.dir, 'host'), assets);
    const agent = await runSea(sea.path('braid-agent'), ['--help'], { BRAID_ASSET_DIR: assets });
    expect(agent.code, agent.stderr).toBe(0);
    expect(agent.stdout).toMatch(/^usage: braid-agent \[options\]\n\s+--socket <path>/);
  });

  it('keeps one V8 code cache per command and verb: written by the first call, used by the next, replaced when corrupt, ignored in a directory others can write', async () => {
    const assets = assetDir();
    await expectVersion(sea.path('braid'), assets);
    const [dirName] = codeCacheDirs(assets);
    expect(dirName).toMatch(/^code-cache-[0-9a-f]{16}$/);
    const dir = join(assets, dirName!);
    const cache = join(dir, 'braid-VERSION.bin');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    // Used, not rewritten: a cache V8 rejected would be replaced (a new inode, renamed into place).
    const written = statSync(cache).ino;
    await expectVersion(sea.path('braid'), assets);
    expect(statSync(cache).ino, 'the second call rewrote the cache: V8 rejected it').toBe(written);
    // A corrupt cache is rejected by V8, the call still answers, and the cache is written anew.
    writeFileSync(cache, 'not a code cache');
    await expectVersion(sea.path('braid'), assets);
    expect(readFileSync(cache).toString('latin1')).not.toBe('not a code cache');
    // A directory others can write is neither read nor written: the planted file stays as it was.
    chmodSync(dir, 0o777);
    writeFileSync(cache, 'planted');
    await expectVersion(sea.path('braid'), assets);
    expect(readFileSync(cache, 'utf8')).toBe('planted');
    await expectVersion(sea.path('braid-veth'), assets);
    expect(entries(dir)).toEqual(['braid-VERSION.bin']);
  });

  it('installs the host layout: the front door, braid-node and braid-veth as one inode, and braid-launch, all run from there; a second run keeps it', async () => {
    const h = hostRoot();
    const assets = assetDir();
    const first = await installBySea(join(sea.dir, 'host'), h, assets);
    expect(first.code, first.stderr).toBe(0);
    const names = ['braid', 'braid-launch', 'braid-node', 'braid-veth'];
    for (const name of names) expect(first.stderr).toContain(`installed ${join(h.binDir, name)}\n`);
    expect(entries(h.binDir)).toEqual(names);
    expect(readFileSync(join(h.binDir, 'braid'))).toEqual(readFileSync(sea.host('braid')));
    expect(readFileSync(join(h.binDir, 'braid-launch'))).toEqual(readFileSync(sea.host('braid-launch')));
    const braid = statSync(join(h.binDir, 'braid-node'));
    expect(statSync(join(h.binDir, 'braid-veth')).ino).toBe(braid.ino);
    expect(braid.nlink).toBe(2);
    expect(braid.ino, 'a copy, not a link into the image').not.toBe(statSync(sea.path('braid')).ino);
    expect(braid.mode & 0o777).toBe(0o755);
    expect(statSync(join(h.binDir, 'braid')).mode & 0o777).toBe(0o755);
    const conf = JSON.parse(readFileSync(join(h.confDir, '00-braid.conflist'), 'utf8'));
    expect(conf.plugins).toEqual([
      expect.objectContaining({ type: 'braid', clusterNetwork: join(h.confDir, '10-cluster.conflist') }),
    ]);

    await expectVersion(join(h.binDir, 'braid'), assets);
    await expectVersion(join(h.binDir, 'braid-veth'), assets);
    await expectMultiCall(h.binDir, assets);

    const second = await installBySea(join(sea.dir, 'host'), h, assets);
    expect(second.code, second.stderr).toBe(0);
    for (const name of names) expect(second.stderr).toContain(`${join(h.binDir, name)} is up to date`);
    expect(statSync(join(h.binDir, 'braid-node')).ino).toBe(braid.ino);
    expect(statSync(join(h.binDir, 'braid-veth')).ino).toBe(braid.ino);
    expect(entries(h.binDir)).toEqual(names);
  });

  it('runs a podman container on the installed copies: braid-veth eth0, macvlan net1, and removal leaves nothing', async (ctx) => {
    ctx.skip(podmanReason !== undefined, podmanReason);
    const defaultAssetsBefore = entries(DEFAULT_ASSET_ROOT);
    const h = hostRoot();
    const assets = assetDir();
    const install = await installBySea(join(sea.dir, 'host'), h, assets);
    expect(install.code, install.stderr).toBe(0);
    forwardingBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');

    const clusterPrefix = `10.214.${randomInt(1, 125)}`;
    const macvlanPrefix = `10.214.${randomInt(125, 250)}`;
    const cluster = vethNetwork(`${clusterPrefix}.0/24`);
    // podman sends K8S_POD_NAME=<container name> and no namespace: braid reads the pod as default/<name>.
    const name = `braid-sea-${hex()}`;
    const plugin = braidPlugin(cluster, h.binDir, name, { 'k8s.v1.cni.cncf.io/networks': 'macvlan-sea' });
    const macvlan = await macvlanNad(plugin.nadDir, macvlanPrefix);
    podman = createPodman([h.binDir, '/usr/lib/cni'], { BRAID_ASSET_DIR: assets });
    podman.writeConflist({ cniVersion: '1.0.0', name: 'braid-sea', plugins: [plugin] });
    await podman.ensureImage();

    // One `podman run --rm`: podman's netns mount lives in that command's private mount namespace
    // (helpers/podman.ts), so the DEL must come from the same run. The container waits, through a
    // shared directory, until the test has looked.
    const sync = makeTempDir('braid-t-sync');
    const script =
      'ip addr > /sync/addrs; i=0; while [ ! -e /sync/done ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done';
    let ended: CommandResult | undefined;
    const running = podman
      .run({ network: 'braid-sea', name, extraArgs: ['-v', `${sync}:/sync`], command: ['sh', '-c', script] })
      .then((r) => (ended = r));
    let hostVeth = '';
    try {
      for (let i = 0; !existsSync(join(sync, 'addrs')); i++) {
        if (ended !== undefined || i > 600)
          throw new Error(`the container did not come up: ${ended?.stderr ?? 'nothing after 60 s'}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const inspect = await podman.podman(['inspect', '--format', '{{.Id}} {{.State.Pid}}', name]);
      expect(inspect.code, inspect.stderr).toBe(0);
      const [containerId, pid] = inspect.stdout.trim().split(' ') as [string, string];
      const addrs = parseIpJson<IpAddrs[]>(
        await mustRun(['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'ip', '-j', 'addr', 'show']),
      );
      const inet = (ifname: string) =>
        addrs
          .find((l) => l.ifname === ifname)
          ?.addr_info.filter((a) => a.family === 'inet')
          .map((a) => `${a.local}/${a.prefixlen}`);
      expect(inet('eth0'), 'eth0: one braid-veth /32').toEqual([addressIn(clusterPrefix, 32)]);
      expect(inet('net1'), 'net1: one macvlan address').toEqual([addressIn(macvlanPrefix, 24)]);

      // The plugins wrote their bundled files into BRAID_ASSET_DIR: podman's environment reached them.
      const extracted = assetDirs(assets);
      expect(extracted).toEqual([expect.stringMatching(/^assets-[0-9a-f]+$/)]);
      // ... and the plugin calls their code caches (scripts/sea-main.cjs), one per command and verb.
      expect(codeCaches(assets)).toEqual(expect.arrayContaining(['braid-node-ADD.bin', 'braid-veth-ADD.bin']));
      expect(entries(join(assets, extracted[0]!))).toEqual(expect.arrayContaining(['veth.o', 'koffi.node']));
      hostVeth = hostVethName('brv', containerId, 'eth0');
      expect((await runCommand(['ip', 'link', 'show', 'dev', hostVeth])).code, `host veth ${hostVeth}`).toBe(0);
      expect(linkPins(cluster.pinRoot)).toEqual([`${hostVeth}-egress`, `${hostVeth}-ingress`]);
      expect(leases(cluster.dataDir)).toHaveLength(1);
      expect(leases(macvlan.dataDir)).toHaveLength(1);
      expect(cacheRecords(plugin.cniDir)).toHaveLength(1);
    } finally {
      // The container exits and podman removes it (--rm): braid gets DEL.
      writeFileSync(join(sync, 'done'), '');
      await running;
    }
    expect(ended?.code, ended?.stderr).toBe(0);
    expect((await runCommand(['ip', 'link', 'show', 'dev', hostVeth])).code, `host veth ${hostVeth} left`).not.toBe(0);
    expectNoVethAttachment(cluster);
    expect(leases(macvlan.dataDir), 'macvlan reservations left').toEqual([]);
    expect(cacheRecords(plugin.cniDir), 'braid cache records left').toEqual([]);
    // The DEL may come from the `podman container cleanup` conmon starts; it too had BRAID_ASSET_DIR.
    expect(entries(DEFAULT_ASSET_ROOT), `written to ${DEFAULT_ASSET_ROOT}`).toEqual(defaultAssetsBefore);
  });
});

describe.skipIf(!isRoot)('braid as one single executable, as root on test namespaces', () => {
  /** CNI calls as a runtime makes them (braid through its front door), each plugin's host side in `node`, the assets in `assets`. */
  const caller =
    (node: Netns, assets: string) =>
    (
      binary: SeaCommand,
      command: string,
      pod: Netns,
      containerId: string,
      stdin: unknown,
      args?: Record<string, string>,
    ): Promise<PluginRun> =>
      runPlugin(binary === 'braid' ? sea.host('braid') : sea.path(binary), {
        command,
        containerId,
        netns: pod,
        ifname: 'eth0',
        hostNetns: node,
        stdin,
        ...(args ? { args } : {}),
        extraEnv: { BRAID_ASSET_DIR: assets },
      });
  /** The single plugin of a braid-veth conflist, as a runtime sends it. */
  const vethConf = (n: VethNetwork) => ({ cniVersion: n.conf.cniVersion, name: n.conf.name, ...n.conf.plugins[0] });

  function expectAssetDirRefused(r: PluginRun, assets: string): void {
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.json).toEqual(
      expect.objectContaining({ cniVersion: '1.0.0', code: expect.any(Number), msg: expect.any(String) }),
    );
    expect(r.json?.msg).toContain(assets);
    expect(r.json?.msg).toContain('BRAID_ASSET_DIR');
  }

  it('refuses a group/world-writable BRAID_ASSET_DIR with a CNI error naming it, and leaves nothing behind', async () => {
    const node = await createNetns('braid-t-node');
    const pod = await createNetns('braid-t-pod');
    const cluster = vethNetwork('10.93.0.0/24');
    const assets = assetDir();
    chmodSync(assets, 0o777);
    const call = caller(node, assets);

    expectAssetDirRefused(await call('braid-veth', 'ADD', pod, 'ctr-open-veth', vethConf(cluster)), assets);
    // The same through braid, which hands the cluster network to braid-veth.
    const plugin = braidPlugin(cluster, sea.dir, 'web');
    const braidConf = { cniVersion: '1.0.0', name: 'braid-sea', ...plugin };
    const args = { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web' };
    expectAssetDirRefused(await call('braid', 'ADD', pod, 'ctr-open-braid', braidConf, args), assets);
    // VERSION needs no bundled file, so the open directory does not stop it.
    await expectVersion(sea.path('braid-veth'), assets);

    expect(entries(assets), 'nothing written into the open directory').toEqual([]);
    expect(await linkNames(pod)).toEqual(['lo']);
    expect(await linkNames(node)).toEqual(['lo']);
    expect(cacheRecords(plugin.cniDir), 'braid cache records left').toEqual([]);
    expectNoVethAttachment(cluster);
  });

  it('eight first runs at once all succeed and leave one assets directory, no staging directories', async () => {
    const node = await createNetns('braid-t-node');
    const pods = await Promise.all(Array.from({ length: 8 }, () => createNetns('braid-t-pod')));
    const cluster = vethNetwork('10.94.0.0/24');
    const assets = assetDir();

    const call = caller(node, assets);
    const adds = await Promise.all(
      pods.map((pod, i) => call('braid-veth', 'ADD', pod, `ctr-first-${i}`, vethConf(cluster))),
    );

    for (const r of adds) expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(new Set(adds.map((r) => r.json?.ips?.[0]?.address)).size, 'eight distinct pod addresses').toBe(8);
    const left = assetDirs(assets);
    expect(
      entries(assets).filter((d) => d.startsWith('.assets-')),
      'staging directories left',
    ).toEqual([]);
    expect(left).toEqual([expect.stringMatching(/^assets-[0-9a-f]+$/)]);
    // Eight first ADDs wrote one code cache, each by its own name and renamed into place.
    expect(codeCaches(assets)).toEqual(['braid-veth-ADD.bin']);
    expect(entries(join(assets, left[0]!))).toEqual([
      '.complete',
      'braid-native.node',
      'koffi.node',
      'mnp.o',
      'podresources-v1.proto',
      'veth.o',
    ]);
    expect(statSync(join(assets, left[0]!)).mode & 0o777).toBe(0o700);

    const dels = await Promise.all(
      pods.map((pod, i) => call('braid-veth', 'DEL', pod, `ctr-first-${i}`, vethConf(cluster))),
    );
    for (const r of dels) expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(await linkNames(node)).toEqual(['lo']);
    expectNoVethAttachment(cluster);
  });
});
