import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyscallError } from '../../src/net/errno.ts';
import type { NativeAddon } from '../../src/net/native-addon.ts';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  type BraidBed,
  repoRoot,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import { testNativeAddon } from '../helpers/native-addon.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { agentBinaryBeside, startAgentProcess } from './agent-testbed.ts';

// Thin mode with braid's addon (native/braid-native.c: posix_spawn, the interface list read on a
// thread inside the pod's namespace, OFD locks) and without it (a host whose libc is older than
// glibc 2.34 cannot load it): the same pods either way; only the way there differs.

const unavailable = braidUnavailable();

/** A PATH whose `nsenter` logs each run to `log` and then runs the real one. */
function loggingPath(log: string): string {
  const dir = makeTempDir('braid-t-path-');
  const real = execFileSync('sh', ['-c', 'command -v nsenter'], { encoding: 'utf8' }).trim();
  const shim = join(dir, 'nsenter');
  writeFileSync(shim, `#!/bin/sh\necho "nsenter $*" >> ${log}\nexec ${real} "$@"\n`);
  chmodSync(shim, 0o755);
  return `${dir}:${process.env.PATH}`;
}

describe.skipIf(unavailable !== undefined)("braid's addon in a plugin process", () => {
  let bed: BraidBed;
  let addon: NativeAddon;

  useBraidBed((b) => {
    bed = b;
  });
  beforeAll(async () => {
    addon = await testNativeAddon();
  });

  it('lists the interfaces of a namespace as ip does, and names what it cannot open', async () => {
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    expectOk(await bed.run('ADD'));
    const fromIp = (await bed.pod.links()).map((l) => l.ifname).sort();
    expect(fromIp).toEqual(['eth0', 'lo', 'net1']);
    expect(addon.linkNames(bed.pod.path).sort()).toEqual(fromIp);

    const missing = join(makeTempDir('braid-t-ns-'), 'gone');
    expect(() => addon.linkNames(missing)).toThrow(SyscallError);
    expect(() => addon.linkNames(missing)).toThrow(`list the interfaces of ${missing}: ENOENT`);
    const notNetns = join(dirname(missing), 'plain-file');
    writeFileSync(notNetns, '');
    expect(() => addon.linkNames(notNetns)).toThrow(`list the interfaces of ${notNetns}: EINVAL`);
    expectOk(await bed.run('DEL'));
    await bed.expectNothingLeft();
  });

  it('thin ADD and DEL run no nsenter or ip, and an interface name the pod has is refused', async () => {
    const log = join(makeTempDir('braid-t-log-'), 'nsenter.log');
    const PATH = loggingPath(log);
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    expectOk(await bed.run('ADD', { extraEnv: { PATH } }));
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    expectOk(await bed.run('DEL', { extraEnv: { PATH } }));
    // The fixture enters the node namespace with nsenter too, to run braid: only `ip` runs count.
    expect(readFileSync(log, 'utf8')).not.toMatch(/ ip /);

    await bed.pod.ip(['link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'keep1']);
    const refused = expectCniError(await bed.run('ADD', { extraEnv: { PATH } }), 102);
    expect(refused.msg).toContain(`interface net1 (for default/lan) already exists in ${bed.pod.path}`);
    expect(await bed.linkNames()).toEqual(['keep1', 'lo', 'net1']);
    expect(bed.leases()).toEqual([]);
  });
});

describe.skipIf(unavailable !== undefined)('braid-agent with the addon', () => {
  let bed: BraidBed;

  useBraidBed((b) => {
    bed = b;
  });

  it('loads it: no word of a fallback at start', async () => {
    const agent = await startAgentProcess(agentBinaryBeside(braidBinary()), {
      node: bed.node,
      socketPath: join(bed.root, 'run', 'braid.sock'),
      cacheDir: bed.cniDir,
    });
    try {
      expect(agent.log()).toContain('listening on');
      expect(agent.log()).not.toContain('did not load');
    } finally {
      await agent.stop();
    }
  });
});

describe.skipIf(unavailable !== undefined)('a plugin process without the addon', () => {
  let bed: BraidBed;
  let binary: string;
  let out: string;

  useBraidBed((b) => {
    bed = b;
  });
  beforeAll(() => {
    // A build of its own, as a host with an older libc sees it: no loadable addon. Kept for the
    // whole describe (makeTempDir's go after each test).
    out = mkdtempSync(join(tmpdir(), 'braid-t-bin-'));
    const node = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
    execFileSync(node, [join(repoRoot, 'scripts', 'build.mjs'), '--out-dir', out, '--skip-bpf'], {
      stdio: 'pipe',
    });
    rmSync(join(out, 'native'), { recursive: true, force: true });
    binary = join(out, 'host', 'braid');
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('sets up and removes the same pod through iproute2, Node spawn and SQLite locks', async () => {
    const log = join(makeTempDir('braid-t-log-'), 'nsenter.log');
    const PATH = loggingPath(log);
    await bed.macvlanNad('lan', '10.89.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    expectOk(await bed.run('ADD', { binary, extraEnv: { PATH } }));
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    expect(readFileSync(log, 'utf8')).toContain(`nsenter --net=${bed.pod.path} ip -o link show`);
    expectOk(await bed.run('DEL', { binary, extraEnv: { PATH } }));
    await bed.expectNothingLeft();

    await bed.pod.ip(['link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'keep1']);
    const refused = expectCniError(await bed.run('ADD', { binary, extraEnv: { PATH } }), 102);
    expect(refused.msg).toContain(`interface net1 (for default/lan) already exists in ${bed.pod.path}`);
    expect(await bed.linkNames()).toEqual(['keep1', 'lo', 'net1']);
  });

  it('braid-agent without it says so at start, and serves ADD and DEL all the same', async () => {
    const socketPath = join(bed.root, 'run', 'braid.sock');
    const agent = await startAgentProcess(join(dirname(dirname(binary)), 'bin', 'braid-agent'), {
      node: bed.node,
      socketPath,
      cacheDir: bed.cniDir,
    });
    try {
      expect(agent.log()).toMatch(
        /braid's addon did not load \(no braid-native\.node .*\): delegates start through Node's spawn/,
      );
      const conf = bed.conf({ agentSocket: socketPath });
      await bed.macvlanNad('lan', '10.89.0.0/24');
      bed.writePod({ [ANN_NETWORKS]: 'lan' });
      expectOk(await bed.run('ADD', { binary, conf }));
      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
      expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}')).toBe(1);
      expectOk(await bed.run('DEL', { binary, conf }));
      await bed.expectNothingLeft();
    } finally {
      await agent.stop();
    }
  });
});
