import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerPolicy } from '../../src/cli/policy.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { echoReaches, startEchoServer, stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { isRoot } from '../bpf/env.ts';
import { makePolicyTestbed, type PolicyTestbed } from './policy-testbed.ts';

describe.skipIf(!isRoot)('braid policy apply / show / delete', () => {
  let tb: PolicyTestbed | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });

  /** Runs `braid policy ...` in the test bed's host namespace and returns what it printed. */
  async function braid(args: string[]): Promise<string> {
    const o = tb!.opts;
    const program = new Command('braid').exitOverride();
    registerPolicy(program);
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation(
      (chunk: string | Uint8Array) => ((out += String(chunk)), true),
    );
    const where = [
      '--policy-dir',
      o.policyDir,
      '--bpf-root',
      o.bpfRoot,
      '--pod-dir',
      o.podDir,
      '--cache-dir',
      o.cacheDir,
    ];
    // Reconciling needs no namespace switch: the hooks are found by their pinned links and keys.
    await program.parseAsync(['policy', ...args, ...where], { from: 'user' });
    vi.restoreAllMocks();
    return out;
  }

  it('applies a directory, shows selection, isolation and counters, and deletes', async () => {
    tb = await makePolicyTestbed();
    const server = await tb.pod('server', { app: 'server' });
    const client = await tb.pod('client', { app: 'client' });
    const conf = (ip: string) => ({
      bridge: 'brpc0',
      isGateway: false,
      ipMasq: false,
      ipam: { type: 'static', addresses: [{ address: `${ip}/24` }] },
    });
    tb.attach(server, 'default/net1', 'net1', await tb.plugin(server, 'bridge', conf('10.82.0.2')));
    tb.attach(client, 'default/net1', 'net1', await tb.plugin(client, 'bridge', conf('10.82.0.3')));

    const dir = join(makeTempDir('braid-t-pcli'), 'manifests');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'deny.yaml'),
      `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata:
  name: deny-ingress
  annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: []
`,
    );
    const applied = await braid(['apply', '-f', dir, '-n', 'test']);
    expect(applied).toContain('multinetworkpolicy test/deny-ingress configured');
    expect(applied).toMatch(/2 enforced interface\(s\), 1 updated/);

    const echo = await startEchoServer(server.ns, 'tcp', '10.82.0.2', 5555);
    expect(await echoReaches(client.ns, 'tcp', '10.82.0.2', 5555, { timeoutMs: 800 })).toBe(false);
    echo.stop();

    const shown = await braid(['show']);
    expect(shown).toMatch(
      /test\/server net1 \(default\/net1\) via host veth \S+\n\s+policies test\/deny-ingress\n\s+ingress isolated .*denied [1-9]\d* pkts.*denied by policy [1-9]/,
    );
    expect(shown).toMatch(/test\/client net1 \(default\/net1\)[^\n]*\n\s+policies \(none: all traffic allowed\)/);
    const json = JSON.parse(await braid(['show', '--json'])) as {
      pod: string;
      isolated: { ingress: boolean };
      inSync: boolean;
    }[];
    expect(json.find((r) => r.pod === 'test/server')).toMatchObject({ isolated: { ingress: true }, inSync: true });

    expect(await braid(['delete', 'test/deny-ingress'])).toContain('multinetworkpolicy test/deny-ingress deleted');
    const echo2 = await startEchoServer(server.ns, 'tcp', '10.82.0.2', 5555);
    expect(await echoReaches(client.ns, 'tcp', '10.82.0.2', 5555)).toBe(true);
    echo2.stop();
    await expect(braid(['delete', 'test/deny-ingress'])).rejects.toThrow(/no MultiNetworkPolicy test\/deny-ingress/);
  });
});
