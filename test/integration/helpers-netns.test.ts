import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/exec.ts';
import { createNetns, destroyAllNetns, moveLink, vethPair } from '../helpers/netns.ts';
import { runPlugin } from '../helpers/run-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { echoReaches, startEchoServer, stopEchoServers, tcpEcho, udpEcho } from '../helpers/traffic.ts';

// The root-only parts of the test helpers, in real namespaces: other suites build on them.

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('test helpers in real network namespaces', () => {
  afterEach(async () => {
    stopEchoServers();
    await destroyAllNetns();
    cleanupTemps();
  });

  async function connectedPair() {
    const a = await createNetns();
    const b = await createNetns();
    await vethPair(a, b, 'va', 'vb');
    await a.ip(['addr', 'add', '10.213.250.1/24', 'dev', 'va']);
    await b.ip(['addr', 'add', '10.213.250.2/24', 'dev', 'vb']);
    await a.ip(['addr', 'add', 'fd00:213:250::1/64', 'dev', 'va', 'nodad']);
    await b.ip(['addr', 'add', 'fd00:213:250::2/64', 'dev', 'vb', 'nodad']);
    return { a, b };
  }

  it('creates a namespace under /run/netns and destroy() removes it', async () => {
    const ns = await createNetns();
    expect(ns.path).toBe(`/run/netns/${ns.name}`);
    expect((await runCommand(['ip', 'netns', 'list'])).stdout).toContain(ns.name);

    await ns.destroy();

    expect((await runCommand(['ip', 'netns', 'list'])).stdout).not.toContain(ns.name);
  });

  it('links, addrs and routes read the namespace with ip -j', async () => {
    const { a } = await connectedPair();

    expect((await a.links()).map((l) => l.ifname).sort()).toEqual(['lo', 'va']);
    const va = (await a.addrs()).find((l) => l.ifname === 'va');
    expect(va?.addr_info).toContainEqual(
      expect.objectContaining({ family: 'inet', local: '10.213.250.1', prefixlen: 24 }),
    );
    expect(await a.routes(4)).toContainEqual(expect.objectContaining({ dst: '10.213.250.0/24', dev: 'va' }));
    expect(await a.routes(6)).toContainEqual(expect.objectContaining({ dst: 'fd00:213:250::/64', dev: 'va' }));
  });

  it('exec hides the host bpffs, nsenter keeps it', async () => {
    const ns = await createNetns();
    const mounts = (r: { stdout: string }) => r.stdout.split('\n').some((l) => l.split(' ')[2] === 'bpf');
    const host = (await runCommand(['cat', '/proc/self/mounts'])).stdout
      .split('\n')
      .some((l) => l.split(' ')[2] === 'bpf');

    expect(mounts(await ns.nsenter(['cat', '/proc/self/mounts']))).toBe(host);
    expect(mounts(await ns.exec(['cat', '/proc/self/mounts']))).toBe(false);
  });

  it('moveLink moves a link between namespaces', async () => {
    const { a, b } = await connectedPair();
    const c = await createNetns();

    await moveLink('vb', b, c);

    expect((await b.links()).map((l) => l.ifname)).not.toContain('vb');
    expect((await c.links()).map((l) => l.ifname)).toContain('vb');
    expect((await a.links()).map((l) => l.ifname)).toContain('va');
  });

  it('tcpEcho and udpEcho pass over a veth pair, IPv4 and IPv6', async () => {
    const { a, b } = await connectedPair();

    expect(await tcpEcho(b, a, '10.213.250.2')).toBe(true);
    expect(await udpEcho(b, a, '10.213.250.2')).toBe(true);
    expect(await tcpEcho(b, a, 'fd00:213:250::2')).toBe(true);
    expect(await udpEcho(a, b, 'fd00:213:250::1')).toBe(true);
  });

  it('an echo fails within its time limit when the path is down', async () => {
    const { a, b } = await connectedPair();
    const server = await startEchoServer(b, 'udp', '10.213.250.2');
    await a.ip(['link', 'set', 'va', 'down']);

    const started = Date.now();
    const reached = await echoReaches(a, 'udp', '10.213.250.2', server.port, { timeoutMs: 500 });

    expect(reached).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('runPlugin with hostNetns runs the plugin inside that namespace', async () => {
    const host = await createNetns();
    const bin = join(makeTempDir('braid-t-plugin'), 'show-links');
    writeFileSync(bin, '#!/bin/sh\nip -j link show\n');
    chmodSync(bin, 0o755);
    await host.ip(['link', 'add', 'brt-helper', 'type', 'bridge']);

    const r = await runPlugin(bin, { command: 'VERSION', hostNetns: host });

    expect(r.code, r.stderr).toBe(0);
    expect((r.json as unknown as { ifname: string }[]).map((l) => l.ifname)).toContain('brt-helper');
  });

  it('destroyAllNetns kills what still runs inside before deleting', async () => {
    const ns = await createNetns();
    await ns.ip(['link', 'set', 'lo', 'up']);
    await startEchoServer(ns, 'tcp', '127.0.0.1');
    const sleeper = await ns.nsenter(['sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $!']);
    const pid = Number(sleeper.stdout.trim());

    await destroyAllNetns();

    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for a parent that is not this test to reap it.
    const state = existsSync(`/proc/${pid}/stat`)
      ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
      : 'gone';
    expect(['gone', 'Z']).toContain(state);
    expect((await runCommand(['ip', 'netns', 'list'])).stdout).not.toContain(ns.name);
  });
});
