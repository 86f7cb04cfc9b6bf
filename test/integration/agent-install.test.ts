import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installBinaries } from '../../src/cli/install/binaries.ts';
import { installOnce, refresh, type InstallOptions } from '../../src/cli/install/install-run.ts';
import { loadBraidConf } from '../../src/config/conf.ts';
import { findKubeAccess } from '../../src/k8s/kubeconfig.ts';
import { braidBinary, braidUnavailable } from '../helpers/braid-fixture.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

/**
 * `braid install` into a temporary root standing for the host: binaries replaced while the old
 * one runs, braid's conf generated from the primary network's, the kubeconfig kept current as
 * the service account token rotates, and the conf removed on exit when asked.
 */
const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const running: { kill(sig: NodeJS.Signals): boolean; exitCode: number | null }[] = [];

afterEach(() => {
  for (const p of running.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  cleanupTemps();
});

interface HostRoot {
  root: string;
  binDir: string;
  confDir: string;
  saDir: string;
  source: string;
  env: Record<string, string>;
}

function hostRoot(): HostRoot {
  const root = makeTempDir('braid-t-install');
  const dir = (p: string) => (mkdirSync(join(root, p), { recursive: true }), join(root, p));
  const h = {
    root,
    binDir: dir('host/opt/cni/bin'),
    confDir: dir('host/etc/cni/net.d'),
    saDir: dir('sa'),
    source: dir('image/bin'),
  };
  for (const name of ['braid', 'braid-node', 'braid-veth', 'braid-launch']) {
    writeFileSync(join(h.source, name), `#!/bin/sh\necho new ${name}\n`);
    chmodSync(join(h.source, name), 0o755);
  }
  writeFileSync(join(h.saDir, 'token'), 'token-one\n');
  writeFileSync(join(h.saDir, 'ca.crt'), CA);
  return { ...h, env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } };
}

function flannel(h: HostRoot, cniVersion = '0.3.1'): void {
  const conf = {
    cniVersion,
    name: 'cbr0',
    plugins: [
      { type: 'flannel', delegate: { hairpinMode: true } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  writeFileSync(join(h.confDir, '10-flannel.conflist'), JSON.stringify(conf));
}

function options(h: HostRoot, over: Partial<InstallOptions> = {}): InstallOptions {
  return {
    binSource: h.source,
    binaries: ['braid', 'braid-veth'],
    binDir: h.binDir,
    confDir: h.confDir,
    hostConfDir: '/etc/cni/net.d',
    confName: '00-braid.conflist',
    primary: undefined,
    primaryTimeoutMs: 2_000,
    networkName: 'braid-cni-network',
    serviceAccount: { dir: h.saDir, env: h.env },
    extra: {},
    log: () => undefined,
    ...over,
  };
}

describe.skipIf(braidUnavailable())('braid install', () => {
  beforeAll(() => {
    braidBinary();
  });

  it('replaces a binary that is running, without "text file busy" and without a torn file', () => {
    const h = hostRoot();
    const target = join(h.binDir, 'braid');
    copyFileSync('/bin/sleep', target);
    chmodSync(target, 0o755);
    const old = spawn(target, ['5'], { stdio: 'ignore' });
    running.push(old);
    const inodeBefore = statSync(target).ino;
    // What a plain `cp` does to a running binary:
    expect(() => copyFileSync(join(h.source, 'braid'), target)).toThrow(/ETXTBSY/);

    const installed = installBinaries(h.source, ['braid', 'braid-veth'], h.binDir);
    expect(installed.map((b) => [b.name, b.changed])).toEqual([
      ['braid', true],
      ['braid-veth', true],
    ]);
    expect(old.exitCode).toBeNull();
    expect(statSync(target).ino).not.toBe(inodeBefore);
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(spawnSync(target, { encoding: 'utf8' }).stdout).toBe('new braid\n');
    expect(readdirSync(h.binDir).sort()).toEqual(['braid', 'braid-veth']);
    // Same content: nothing is written again.
    expect(installBinaries(h.source, ['braid'], h.binDir)[0]!.changed).toBe(false);
    expect(() => installBinaries(h.source, ['missing'], h.binDir)).toThrow(/missing does not exist/);
  });

  it('installs names that are links of one file (the multi-call executable) as links of one copy', () => {
    const h = hostRoot();
    // The single-executable layout: braid-veth and braid-agent are hard links of braid.
    const multiCall = makeTempDir('braid-t-multicall');
    writeFileSync(join(multiCall, 'braid'), '#!/bin/sh\necho "multi-call $(basename "$0")"\n');
    chmodSync(join(multiCall, 'braid'), 0o755);
    linkSync(join(multiCall, 'braid'), join(multiCall, 'braid-veth'));
    // An older install left braid-veth as a copy of its own.
    copyFileSync(join(h.source, 'braid-veth'), join(h.binDir, 'braid-veth'));

    const installed = installBinaries(multiCall, ['braid', 'braid-veth'], h.binDir);
    expect(installed.map((b) => [b.name, b.changed])).toEqual([
      ['braid', true],
      ['braid-veth', true],
    ]);
    const [braid, veth] = [statSync(join(h.binDir, 'braid')), statSync(join(h.binDir, 'braid-veth'))];
    expect(veth.ino).toBe(braid.ino);
    expect(braid.ino).not.toBe(statSync(join(multiCall, 'braid')).ino);
    expect(spawnSync(join(h.binDir, 'braid-veth'), { encoding: 'utf8' }).stdout).toBe('multi-call braid-veth\n');
    expect(readdirSync(h.binDir).sort()).toEqual(['braid', 'braid-veth']);
    // Nothing changed: nothing is written, the link stays.
    expect(installBinaries(multiCall, ['braid', 'braid-veth'], h.binDir).map((b) => b.changed)).toEqual([false, false]);
    expect(statSync(join(h.binDir, 'braid-veth')).ino).toBe(braid.ino);
  });

  it("generates braid's conf from the primary network's conf, Multus' leftover skipped", async () => {
    const h = hostRoot();
    flannel(h);
    writeFileSync(
      join(h.confDir, '00-multus.conf'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'multus-cni-network', type: 'multus' }),
    );
    writeFileSync(
      join(h.confDir, '99-loopback.conf'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    );
    await installOnce(
      options(h, { extra: { namespaceIsolation: true, agentSocket: '/run/braid/braid.sock', type: 'not-braid' } }),
    );
    const written = JSON.parse(readFileSync(join(h.confDir, '00-braid.conflist'), 'utf8'));
    expect(written).toEqual({
      cniVersion: '0.3.1',
      name: 'braid-cni-network',
      plugins: [
        {
          type: 'braid',
          clusterNetwork: '/etc/cni/net.d/10-flannel.conflist',
          kubeconfig: '/etc/cni/net.d/braid.d/braid.kubeconfig',
          // Multus' default cniDir: braid takes over the pods Multus set up from its cache.
          multusCniDir: '/var/lib/cni/multus',
          namespaceIsolation: true,
          agentSocket: '/run/braid/braid.sock',
          capabilities: { portMappings: true, 'io.kubernetes.cri.pod-annotations': true },
        },
      ],
    });
    expect(statSync(join(h.confDir, '00-braid.conflist')).mode & 0o777).toBe(0o644);
    // The runtime would load it: braid's own loader accepts it.
    const conf = loadBraidConf(written);
    expect(conf.clusterNetwork).toBe('/etc/cni/net.d/10-flannel.conflist');
    expect(conf.capabilities).toEqual({ portMappings: true, 'io.kubernetes.cri.pod-annotations': true });
    expect(readdirSync(h.confDir).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  it("refuses a conf name that would not be the runtime's choice, and waits for the primary", async () => {
    const h = hostRoot();
    const logs: string[] = [];
    const appearing = setTimeout(() => flannel(h), 400);
    await installOnce(options(h, { binDir: undefined, log: (l) => logs.push(l) }));
    clearTimeout(appearing);
    expect(logs.join('\n')).toMatch(/waiting for the primary network's conf/);
    writeFileSync(
      join(h.confDir, '0-early.conf'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'early', type: 'bridge' }),
    );
    await expect(installOnce(options(h, { binDir: undefined }))).rejects.toThrow(
      /0-early.conf sorts before 00-braid.conflist/,
    );
    const empty = hostRoot();
    await expect(installOnce(options(empty, { binDir: undefined, primaryTimeoutMs: 300 }))).rejects.toThrow(
      /no primary network conf .* after 0.3 s/,
    );
  });

  it('writes the kubeconfig from the service account and rewrites it only when the token or CA changes', async () => {
    const h = hostRoot();
    flannel(h);
    const logs: string[] = [];
    const opts = options(h, { binDir: undefined, log: (l) => logs.push(l) });
    const state = await installOnce(opts);
    const file = join(h.confDir, 'braid.d', 'braid.kubeconfig');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    let access = (await findKubeAccess(file, {}))!;
    expect(access.server).toBe('https://10.96.0.1:443');
    expect(access.auth).toEqual({ kind: 'token', token: 'token-one' });
    expect(access.ca).toBe(CA);

    const mtime = statSync(file).mtimeMs;
    logs.length = 0;
    refresh(opts, state);
    expect(statSync(file).mtimeMs).toBe(mtime);
    expect(logs).toEqual([]);

    writeFileSync(join(h.saDir, 'token'), 'token-two\n');
    refresh(opts, state);
    access = (await findKubeAccess(file, {}))!;
    expect(access.auth).toEqual({ kind: 'token', token: 'token-two' });
    expect(logs.join('\n')).toMatch(/rewrote .*braid.kubeconfig \(service account token or CA changed\)/);
    // Without the service variables there is no server to name.
    await expect(
      installOnce(options(h, { binDir: undefined, serviceAccount: { dir: h.saDir, env: {} } })),
    ).rejects.toThrow(/KUBERNETES_SERVICE_HOST/);
  });

  it('installs the host layout it runs from: the front door, the Node implementation it execs from the bin dir, and the delegate launcher', () => {
    const h = hostRoot();
    flannel(h);
    const host = dirname(braidBinary());
    // No --bin-source: the binaries beside the running braid (the front door execs braid-node from there).
    const run = spawnSync(
      braidBinary(),
      ['install', '--bin-dir', h.binDir, '--conf-dir', h.confDir, '--no-kubeconfig', '--primary-timeout', '5'],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(h.binDir).sort()).toEqual(['braid', 'braid-launch', 'braid-node', 'braid-veth']);
    for (const name of ['braid', 'braid-launch', 'braid-node', 'braid-veth'])
      expect(readFileSync(join(h.binDir, name))).toEqual(readFileSync(join(host, name)));
    for (const name of ['braid', 'braid-launch'])
      expect(readFileSync(join(h.binDir, name)).subarray(0, 4).toString('latin1'), `${name} is native`).toBe('\x7fELF');
    // The installed front door finds the installed Node implementation beside itself.
    const help = spawnSync(join(h.binDir, 'braid'), ['--help'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('a Multus-compatible meta-CNI plugin');
  });

  it('the CLI: --watch follows a token rotation and a primary change; --cleanup-on-exit removes the conf', async () => {
    const h = hostRoot();
    flannel(h);
    const args = [
      'install',
      '--bin-dir',
      h.binDir,
      '--bin-source',
      h.source,
      '--conf-dir',
      h.confDir,
      '--service-account-dir',
      h.saDir,
      '--watch',
      '--interval',
      '0.1',
      '--cleanup-on-exit',
    ];
    const child = spawn(braidBinary(), args, {
      env: { PATH: process.env.PATH ?? '', ...h.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    running.push(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const confFile = join(h.confDir, '00-braid.conflist');
    const kubeconfig = join(h.confDir, 'braid.d', 'braid.kubeconfig');
    const until = async (what: string, check: () => boolean) => {
      for (let i = 0; !check(); i++) {
        if (i > 200) throw new Error(`timed out waiting until ${what}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until('the conf is written', () => existsSync(confFile));
    expect(readdirSync(h.binDir).sort()).toEqual(['braid', 'braid-launch', 'braid-node', 'braid-veth']);
    writeFileSync(join(h.saDir, 'token'), 'rotated\n');
    await until('the kubeconfig follows the rotation', () => readFileSync(kubeconfig, 'utf8').includes('rotated'));
    flannel(h, '1.0.0');
    await until(
      'the conf follows the primary',
      () => JSON.parse(readFileSync(confFile, 'utf8')).cniVersion === '1.0.0',
    );
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(existsSync(confFile)).toBe(false);
    expect(stderr).toMatch(/removed .*00-braid.conflist/);
  });
});
