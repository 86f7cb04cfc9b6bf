import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installOnce } from '../../src/cli/install/install-run.ts';
import { loadBraidConf } from '../../src/config/conf.ts';
import { braidBinary, braidUnavailable } from '../helpers/braid-fixture.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// Issue 11 item 7: `braid install --from-multus` translates Multus' 00-multus.conf and thick
// daemon-config.json into braid's conf; --dry-run prints the result and every key it could not
// carry over, writing nothing.

afterEach(() => cleanupTemps());

/** A node as Multus v4 thick left it: the primary, the shim conf, the daemon config. */
function multusNode(): string {
  const confDir = join(makeTempDir('braid-t-frommultus'), 'net.d');
  mkdirSync(join(confDir, 'multus.d'), { recursive: true });
  writeFileSync(
    join(confDir, '10-calico.conflist'),
    JSON.stringify({
      cniVersion: '0.3.1',
      name: 'k8s-pod-network',
      plugins: [{ type: 'calico' }, { type: 'portmap', capabilities: { portMappings: true } }],
    }),
  );
  writeFileSync(
    join(confDir, '00-multus.conf'),
    JSON.stringify({
      cniVersion: '0.3.1',
      name: 'multus-cni-network',
      type: 'multus-shim',
      logLevel: 'verbose',
      logToStderr: true,
      clusterNetwork: '/host/etc/cni/net.d/10-calico.conflist',
    }),
  );
  writeFileSync(
    join(confDir, 'multus.d', 'daemon-config.json'),
    JSON.stringify({
      chrootDir: '/hostroot',
      cniVersion: '0.3.1',
      logLevel: 'verbose',
      logToStderr: true,
      cniConfigDir: '/host/etc/cni/net.d',
      multusAutoconfigDir: '/host/etc/cni/net.d',
      multusConfigFile: 'auto',
      socketDir: '/host/run/multus/',
      namespaceIsolation: true,
      globalNamespaces: 'default,shared',
      defaultNetworks: ['monitoring'],
      cniDir: '/var/lib/cni/multus-thick',
      readinessindicatorfile: '/run/calico/ready',
      metricsPort: 9091,
    }),
  );
  return confDir;
}

describe.skipIf(braidUnavailable())('braid install --from-multus', () => {
  beforeAll(() => void braidBinary(), 60_000);

  it("--dry-run prints braid's conf and each key not carried over, and writes nothing", () => {
    const confDir = multusNode();
    const r = spawnSync(braidBinary(), ['install', '--from-multus', '--dry-run', '--conf-dir', confDir], {
      encoding: 'utf8',
    });

    expect(r.status, r.stderr).toBe(0);
    const json = r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    const plugin = (JSON.parse(json) as { plugins: Record<string, unknown>[] }).plugins[0]!;
    expect(plugin).toMatchObject({
      type: 'braid',
      clusterNetwork: '/etc/cni/net.d/10-calico.conflist',
      namespaceIsolation: true,
      globalNamespaces: 'default,shared',
      defaultNetworks: ['monitoring'],
      multusCniDir: '/var/lib/cni/multus-thick',
      readinessindicatorfile: '/run/calico/ready',
      logLevel: 'verbose',
    });
    for (const key of [
      'clusterNetwork',
      'chrootDir',
      'socketDir',
      'metricsPort',
      'multusConfigFile',
      'cniConfigDir',
      'multusAutoconfigDir',
      'name',
      'type',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^#   ${key} = `, 'm'));
    }
    expect(existsSync(join(confDir, '00-braid.conflist'))).toBe(false);
  });

  it("writes the translated conf, which braid loads, and keeps it once Multus' files are gone", async () => {
    const confDir = multusNode();
    const logs: string[] = [];
    await installOnce({
      binSource: confDir,
      binaries: [],
      binDir: undefined,
      confDir,
      hostConfDir: '/etc/cni/net.d',
      confName: '00-braid.conflist',
      primary: undefined,
      primaryTimeoutMs: 1_000,
      networkName: 'braid-cni-network',
      serviceAccount: undefined,
      extra: {},
      fromMultus: {},
      log: (l) => logs.push(l),
    });
    const conf = loadBraidConf(JSON.parse(readFileSync(join(confDir, '00-braid.conflist'), 'utf8')));
    expect(conf).toMatchObject({
      namespaceIsolation: true,
      globalNamespaces: ['default', 'shared'],
      multusCniDir: '/var/lib/cni/multus-thick',
      logLevel: 'verbose',
    });
    expect(logs.join('\n')).toMatch(/not carried over from Multus: chrootDir = "\/hostroot"/);
  });

  it("a restarted install keeps the carried-over keys once Multus' conf is set aside", async () => {
    const confDir = multusNode();
    const opts = {
      binSource: confDir,
      binaries: [],
      binDir: undefined,
      confDir,
      hostConfDir: '/etc/cni/net.d',
      confName: '00-braid.conflist',
      primary: undefined,
      primaryTimeoutMs: 1_000,
      networkName: 'braid-cni-network',
      serviceAccount: undefined,
      extra: {},
      fromMultus: {},
      log: () => undefined,
    };
    await installOnce(opts);
    const first = readFileSync(join(confDir, '00-braid.conflist'), 'utf8');
    rmSync(join(confDir, '00-multus.conf'));
    rmSync(join(confDir, 'multus.d'), { recursive: true });

    await installOnce(opts);

    expect(JSON.parse(readFileSync(join(confDir, '00-braid.conflist'), 'utf8'))).toEqual(JSON.parse(first));
  });

  it('refuses --from-multus on a node without Multus, naming where it looked', () => {
    const confDir = join(makeTempDir('braid-t-frommultus'), 'net.d');
    mkdirSync(confDir, { recursive: true });
    const r = spawnSync(braidBinary(), ['install', '--from-multus', '--dry-run', '--conf-dir', confDir], {
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain(confDir);
  });
});
