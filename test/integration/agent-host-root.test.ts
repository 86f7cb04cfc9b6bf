import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  makeBraidBed,
  REAL_PLUGINS,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { cleanupTemps } from '../helpers/tmp.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from './agent-testbed.ts';

/**
 * braid-agent --host-root: the agent's delegates run chrooted into a host root that is not the
 * agent's own root, as they do when the agent runs in its image and the host's / is mounted at
 * /host. The host root here is a temp dir with its own /opt/cni/bin (copies of Debian's plugins)
 * and /tmp, and the machine's /usr, /proc, /sys, /dev and /run/netns bound in; the agent runs in
 * a private mount namespace that holds those mounts, so they go when it exits.
 */
const skip = braidUnavailable();
const HOST_BIN = '/opt/cni/bin';
const PLUGINS = ['bridge', 'macvlan', 'host-local', 'loopback'];
const agents: AgentProcess[] = [];

beforeAll(() => {
  if (!skip) braidBinary();
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await destroyAllNetns();
  cleanupTemps();
});

/** A host root: the plugins in its own /opt/cni/bin, symlinks as on Debian 12, mount points. */
function makeHostRoot(bed: BraidBed): string {
  const root = join(bed.root, 'hostroot');
  mkdirSync(join(root, HOST_BIN.slice(1)), { recursive: true });
  for (const p of PLUGINS) copyFileSync(join(REAL_PLUGINS, p), join(root, HOST_BIN.slice(1), p));
  for (const d of ['usr', 'proc', 'sys', 'dev', 'run/netns', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  for (const l of ['lib', 'lib64', 'bin', 'sbin']) symlinkSync(`usr/${l}`, join(root, l));
  return root;
}

/** braid-agent in a mount namespace of its own, with the machine's system dirs bound into the host root. */
function agentWrapper(bed: BraidBed, root: string): string {
  const wrapper = join(bed.root, 'agent-in-mount-ns');
  const binds = ['usr', 'proc', 'sys', 'dev', 'run/netns'].map((d) => `mount --rbind /${d} ${root}/${d}`).join(' && ');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec unshare --mount --propagation private -- sh -c '${binds} && exec "$0" "$@"' ${agentBinaryBeside(braidBinary())} "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}

/** host-local reservations under a dataDir, as `<network>/<ip>`. */
function leasesIn(dataDir: string): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir)
    .filter((net) => statSync(join(dataDir, net)).isDirectory())
    .flatMap((net) =>
      readdirSync(join(dataDir, net))
        .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
        .map((f) => `${net}/${f}`),
    )
    .sort();
}

describe.skipIf(skip)('braid-agent --host-root', () => {
  it('runs every delegate chrooted into the host root: plugins from its /opt/cni/bin, IPAM state in its file system', async () => {
    const bed = await makeBraidBed();
    await bed.macvlanNad('lan', '192.168.81.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan' });
    const root = makeHostRoot(bed);
    const socketPath = join(bed.root, 'run', 'braid.sock');
    const agent = await startAgentProcess(agentWrapper(bed, root), {
      node: bed.node,
      socketPath,
      cacheDir: bed.cniDir,
      args: ['--host-root', root],
    });
    agents.push(agent);
    expect(agent.log()).toContain(`delegates run in ${root}`);
    // The runtime's CNI_PATH and braid's binDir are the host's /opt/cni/bin, which the agent's own
    // file system does not have.
    const conf = bed.conf({ agentSocket: socketPath, binDir: HOST_BIN });
    const path = [HOST_BIN];

    expectOk(await bed.run('ADD', { conf, path }));
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    // host-local wrote its reservations where the delegate's / is: inside the host root.
    expect(leasesIn(join(root, bed.ipamDir)).map((l) => l.split('/')[0])).toEqual(['cluster', 'lan']);
    expect(bed.leases(), "nothing in the agent's own file system").toEqual([]);
    expect((await bed.networkStatus())?.map((s) => s.name)).toEqual(['cluster', 'default/lan']);
    expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}')).toBe(1);
    const metrics = (await agent.get('/metrics')).body;
    expect(metrics, 'delegate times are attributed through braid-chroot').toMatch(
      /braid_delegate_duration_seconds_count\{type="macvlan",verb="ADD"\} [1-9]/,
    );

    expectOk(await bed.run('CHECK', { conf, path }));
    expectOk(await bed.run('DEL', { conf, path }));
    expect(leasesIn(join(root, bed.ipamDir))).toEqual([]);
    await bed.expectNothingLeft();
  });

  it('a plugin the host root does not have fails the ADD with its name and the root, and leaves nothing', async () => {
    const bed = await makeBraidBed();
    const root = makeHostRoot(bed);
    // ptp is in the machine's /usr/lib/cni, but not in the host root's /opt/cni/bin.
    bed.writeNad('p2p', { cniVersion: '1.0.0', name: 'p2p', type: 'ptp', ipam: bed.hostLocal('192.168.82.0/24') });
    bed.writePod({ [ANN_NETWORKS]: 'p2p' });
    const socketPath = join(bed.root, 'run', 'braid.sock');
    agents.push(
      await startAgentProcess(agentWrapper(bed, root), {
        node: bed.node,
        socketPath,
        cacheDir: bed.cniDir,
        args: ['--host-root', root],
      }),
    );
    const conf = bed.conf({ agentSocket: socketPath, binDir: HOST_BIN });

    const err = expectCniError(await bed.run('ADD', { conf, path: [HOST_BIN] }), 7);
    expect(err.msg).toContain('failed to find plugin "ptp" in path [/opt/cni/bin] under host root');
    expect(err.msg).toContain('p2p');
    expect(leasesIn(join(root, bed.ipamDir))).toEqual([]);
    await bed.expectNothingLeft();
  });

  it('refuses to start when the host root or the chroot helper is missing', async () => {
    const bed = await makeBraidBed();
    const socketPath = join(bed.root, 'run', 'braid.sock');
    const missing = join(bed.root, 'no-such-root');
    await expect(
      startAgentProcess(agentBinaryBeside(braidBinary()), {
        node: bed.node,
        socketPath,
        cacheDir: bed.cniDir,
        args: ['--host-root', missing],
      }),
    ).rejects.toThrow(`--host-root ${missing} is not a directory`);
    await expect(
      startAgentProcess(agentBinaryBeside(braidBinary()), {
        node: bed.node,
        socketPath,
        cacheDir: bed.cniDir,
        args: ['--host-root', bed.root, '--chroot-helper', join(bed.root, 'nope')],
      }),
    ).rejects.toThrow(/chroot helper, and .*nope is not an executable file/);
  });
});
