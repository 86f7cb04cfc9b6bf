import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  clearVersionMemory,
  decodeVersionInfo,
  negotiateVersion,
  pluginVersions,
} from '../../../src/cni/plugin-versions.ts';
import { makeSpyPlugin } from '../../helpers/spy-plugin.ts';
import { failure } from '../../helpers/failure.ts';

const DEBIAN_111 = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'];

describe('version negotiation per delegate', () => {
  it('runs a 1.0.0-only delegate of a 1.1.0 list at 1.0.0', () => {
    expect(negotiateVersion('1.1.0', DEBIAN_111)).toBe('1.0.0');
  });

  it('picks the wanted version when the delegate has it', () => {
    expect(negotiateVersion('0.3.1', DEBIAN_111)).toBe('0.3.1');
    expect(negotiateVersion('1.1.0', [...DEBIAN_111, '1.1.0'])).toBe('1.1.0');
  });

  it('compares numerically and ignores list order', () => {
    expect(negotiateVersion('1.0.0', ['1.0.0', '0.10.0', '0.4.0'].reverse())).toBe('1.0.0');
    expect(negotiateVersion('0.4.0', ['1.0.0', '0.4.0', '0.3.1'])).toBe('0.4.0');
  });

  it('skips versions braid cannot convert results of', () => {
    expect(negotiateVersion('1.1.0', ['1.0.0', '1.0.5', 'banana'])).toBe('1.0.0');
  });

  it('fails with code 1 naming the plugin and both sides', () => {
    const e = failure(() => negotiateVersion('0.3.1', ['0.4.0', '1.0.0'], 'net1/firewall'));
    expect(e.code).toBe(1);
    expect(e.message).toBe(
      'no common CNI version with net1/firewall: the network wants 0.3.1 or older, the plugin supports [0.4.0 1.0.0]',
    );
  });
});

describe('H2 decoding VERSION output', () => {
  it('reads the supported list', () => {
    expect(decodeVersionInfo('{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}', 'x')).toEqual([
      '0.4.0',
      '1.0.0',
    ]);
  });

  it('reads a legacy 0.2.0 answer without list as 0.1.0 and 0.2.0', () => {
    expect(decodeVersionInfo('{"cniVersion":"0.2.0"}', 'x')).toEqual(['0.1.0', '0.2.0']);
  });

  it.each(['nope', '{}', '{"cniVersion":"1.0.0"}', '{"cniVersion":"1.0.0","supportedVersions":[]}'])(
    'rejects %j with code 101',
    (out) => {
      expect(failure(() => decodeVersionInfo(out, 'x')).code).toBe(101);
    },
  );
});

describe('pluginVersions', () => {
  let dir: string;
  let cacheDir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'braid-versions-'));
    cacheDir = join(dir, 'cache');
    clearVersionMemory();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs VERSION the way libcni does', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    spy.setControl({ mode: 'passthrough', supportedVersions: ['0.4.0', '1.0.0'] });
    expect(await pluginVersions(spy.path, { timeoutMs: 5000, env: { PATH: process.env.PATH } })).toEqual([
      '0.4.0',
      '1.0.0',
    ]);
    const [call] = spy.calls();
    expect(call?.env).toEqual({ CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' });
    expect(call?.config).toEqual({ cniVersion: '1.1.0' });
  });

  it('caches on disk, so a new process skips the exec', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    const opts = { timeoutMs: 5000, cacheDir };
    const first = await pluginVersions(spy.path, opts);
    clearVersionMemory();
    expect(await pluginVersions(spy.path, opts)).toEqual(first);
    expect(spy.callsOf('VERSION')).toHaveLength(1);
    const onDisk = JSON.parse(readFileSync(join(cacheDir, 'plugin-versions.json'), 'utf8')) as Record<
      string,
      { versions: string[] }
    >;
    expect(onDisk[spy.path]?.versions).toEqual(first);
    expect(readdirSync(cacheDir)).toEqual(['plugin-versions.json']);
  });

  it('asks again when the binary changed (size or mtime)', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    const opts = { timeoutMs: 5000, cacheDir };
    await pluginVersions(spy.path, opts);
    spy.setControl({ mode: 'passthrough', supportedVersions: ['1.0.0'] });
    clearVersionMemory();
    expect(await pluginVersions(spy.path, opts)).toEqual(['1.0.0']);
    expect(spy.callsOf('VERSION')).toHaveLength(2);
  });

  it('remembers within a process even without a cache dir', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    await pluginVersions(spy.path, { timeoutMs: 5000 });
    await pluginVersions(spy.path, { timeoutMs: 5000 });
    expect(spy.callsOf('VERSION')).toHaveLength(1);
  });

  it('treats "unknown CNI_COMMAND: VERSION" as a 0.1.0-only plugin', async () => {
    const spy = makeSpyPlugin(dir, 'old');
    spy.setControl({ mode: 'error', code: 4, msg: 'unknown CNI_COMMAND: VERSION', onlyFor: ['VERSION'] });
    expect(await pluginVersions(spy.path, { timeoutMs: 5000 })).toEqual(['0.1.0']);
  });

  it('passes other VERSION failures on with the delegate code', async () => {
    const spy = makeSpyPlugin(dir, 'broken');
    spy.setControl({ mode: 'error', code: 11, msg: 'busy', onlyFor: ['VERSION'] });
    await expect(pluginVersions(spy.path, { timeoutMs: 5000, label: 'net1/broken' })).rejects.toMatchObject({
      code: 11,
      message: 'net1/broken: busy',
    });
  });

  it('ignores a cache dir that cannot be created, even under /proc', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    expect(await pluginVersions(spy.path, { timeoutMs: 5000, cacheDir: '/proc/braid-nope/versions' })).toContain(
      '1.1.0',
    );
  });

  it('creates missing parents of the cache dir', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    await pluginVersions(spy.path, { timeoutMs: 5000, cacheDir: join(dir, 'a', 'b', 'versions') });
    expect(readdirSync(join(dir, 'a', 'b', 'versions'))).toEqual(['plugin-versions.json']);
  });

  it('ignores an unwritable cache dir', async () => {
    const spy = makeSpyPlugin(dir, 'spy');
    // A regular file where a directory should be: mkdir fails with ENOTDIR.
    const cacheDir = join(spy.path, 'cache');
    expect(await pluginVersions(spy.path, { timeoutMs: 5000, cacheDir })).toContain('1.1.0');
  });
});
