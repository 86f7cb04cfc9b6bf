import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installOnce, refresh, type InstallOptions } from '../../../src/cli/install/install-run.ts';
import { loadBraidConf } from '../../../src/config/conf.ts';
import { cleanupTemps, makeTempDir } from '../../helpers/tmp.ts';

// Issue 11 item 1: `braid install` finds Multus' cniDir (its conf's, or the thick daemon
// config's, else Multus' default) so that braid takes over the pods Multus set up.

afterEach(() => cleanupTemps());

function confDir(): string {
  const dir = join(makeTempDir('braid-t-minstall'), 'net.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, '10-bridge.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', plugins: [{ type: 'bridge' }] }),
  );
  return dir;
}

function options(dir: string): InstallOptions {
  return {
    binSource: dir,
    binaries: [],
    binDir: undefined,
    confDir: dir,
    hostConfDir: '/etc/cni/net.d',
    confName: '00-braid.conflist',
    primary: undefined,
    primaryTimeoutMs: 1_000,
    networkName: 'braid-cni-network',
    serviceAccount: undefined,
    extra: {},
    log: () => undefined,
  };
}

const written = (dir: string) => loadBraidConf(JSON.parse(readFileSync(join(dir, '00-braid.conflist'), 'utf8')));

describe("braid install finds Multus' cniDir", () => {
  it("from 00-multus.conf, and keeps it once Multus' conf is gone", async () => {
    const dir = confDir();
    writeFileSync(
      join(dir, '00-multus.conf'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'multus-cni-network', type: 'multus', cniDir: '/data/multus' }),
    );
    const opts = options(dir);
    const state = await installOnce(opts);
    expect(written(dir).multusCniDir).toBe('/data/multus');
    rmSync(join(dir, '00-multus.conf'));
    refresh(opts, state);
    expect(written(dir).multusCniDir).toBe('/data/multus');
  });

  it('from the thick daemon config, which Multus overlays on the shim conf', async () => {
    const dir = confDir();
    writeFileSync(
      join(dir, '00-multus.conf'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'multus-cni-network', type: 'multus-shim' }),
    );
    mkdirSync(join(dir, 'multus.d'));
    writeFileSync(
      join(dir, 'multus.d', 'daemon-config.json'),
      JSON.stringify({ chrootDir: '/hostroot', cniDir: '/var/lib/cni/thick' }),
    );
    await installOnce(options(dir));
    expect(written(dir).multusCniDir).toBe('/var/lib/cni/thick');
  });

  it("Multus' default when its conf names none; braid's default without Multus", async () => {
    const dir = confDir();
    writeFileSync(
      join(dir, '00-multus.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'multus-cni-network', plugins: [{ type: 'multus' }] }),
    );
    await installOnce(options(dir));
    expect(written(dir).multusCniDir).toBe('/var/lib/cni/multus');
    const plain = confDir();
    await installOnce(options(plain));
    expect(JSON.parse(readFileSync(join(plain, '00-braid.conflist'), 'utf8')).plugins[0].multusCniDir).toBeUndefined();
    expect(written(plain).multusCniDir).toBe('/var/lib/cni/multus');
  });
});
