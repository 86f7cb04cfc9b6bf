import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { handlersInHostRoot, resolveHostRoot } from '../../../src/agent/host-root.ts';
import { parseAgentOptions } from '../../../src/agent/options.ts';
import { findPlugin } from '../../../src/cni/find.ts';
import type { CniRequest } from '../../../src/cni/request.ts';
import type { PluginHandlers } from '../../../src/cni/skel.ts';
import { cleanupTemps, makeTempDir } from '../../helpers/tmp.ts';

afterEach(() => cleanupTemps());

describe('braid-agent --host-root', () => {
  it('is off by default and read from its flags', () => {
    expect(parseAgentOptions([], {})).toMatchObject({ hostRoot: undefined, chrootHelper: undefined });
    expect(
      parseAgentOptions(['--host-root=/host', '--chroot-helper', '/usr/local/bin/braid-chroot'], {}),
    ).toMatchObject({
      hostRoot: '/host',
      chrootHelper: '/usr/local/bin/braid-chroot',
    });
  });

  it('needs a directory and an executable helper, and says which is missing', () => {
    const dir = makeTempDir('braid-t-hostroot');
    const helper = join(dir, 'braid-chroot');
    writeFileSync(helper, '');
    expect(() => resolveHostRoot(join(dir, 'nope'), helper)).toThrow(
      `--host-root ${join(dir, 'nope')} is not a directory`,
    );
    expect(() => resolveHostRoot(dir, helper)).toThrow(`${helper} is not an executable file`);
    chmodSync(helper, 0o755);
    expect(resolveHostRoot(dir, helper)).toEqual({ root: dir, helper });
    expect(resolveHostRoot(undefined, helper)).toBeUndefined();
  });

  it('hands every verb its request with the host root, and leaves the handlers alone without one', async () => {
    const seen: (string | undefined)[] = [];
    const record = async (req: CniRequest) => void seen.push(`${req.command} ${req.hostRoot?.root}`);
    const handlers: PluginHandlers = {
      supportedVersions: ['1.0.0'],
      add: async (req) => (await record(req), { cniVersion: '1.0.0' }),
      del: record,
      check: record,
      status: record,
      gc: record,
    };
    expect(handlersInHostRoot(handlers, undefined)).toBe(handlers);
    const wrapped = handlersInHostRoot(handlers, { root: '/host', helper: '/bin/braid-chroot' });
    for (const command of ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'] as const) {
      await wrapped[command.toLowerCase() as 'add' | 'del' | 'check' | 'status' | 'gc']({ command } as CniRequest);
    }
    expect(seen).toEqual(['ADD /host', 'DEL /host', 'CHECK /host', 'STATUS /host', 'GC /host']);
  });

  it('plugins are looked up under the host root and named by their host path', () => {
    const root = makeTempDir('braid-t-hostroot');
    mkdirSync(join(root, 'opt/cni/bin'), { recursive: true });
    writeFileSync(join(root, 'opt/cni/bin/macvlan'), '');
    expect(findPlugin('macvlan', ['/opt/cni/bin'], root)).toBe('/opt/cni/bin/macvlan');
    expect(() => findPlugin('bridge', ['/opt/cni/bin'], root)).toThrow(
      `failed to find plugin "bridge" in path [/opt/cni/bin] under host root ${root}`,
    );
  });
});
