import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startAgent, type RunningAgent } from '../../src/agent/agent.ts';
import { parseAgentOptions } from '../../src/agent/options.ts';
import { PolicyStore } from '../../src/policy/store.ts';
import { destroyAllNetns } from '../helpers/netns.ts';
import { echoReaches, startEchoServer, stopEchoServers } from '../helpers/traffic.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { isRoot } from '../bpf/env.ts';
import { makePolicyTestbed, type PolicyTestbed, type TestPod } from './policy-testbed.ts';

/**
 * Live updates on the embedded default: nobody runs `braid policy apply`; braid-agent, started
 * without Kubernetes access, sees files change in the policy and pod stores and the traffic
 * follows. (`braid policy watch` runs the same watcher, test/unit/policy/store-watch.test.ts.)
 */
const policy = (name: string, spec: string) => `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata: {name: ${name}, namespace: test, annotations: {k8s.v1.cni.cncf.io/policy-for: default/net1}}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;

/** Polls a TCP echo until it gives `want` (generous bound: a slow machine is no failure); returns the time it took. */
async function until(want: boolean, server: TestPod, client: TestPod, addr: string, what: string): Promise<number> {
  const started = Date.now();
  const echo = await startEchoServer(server.ns, 'tcp', addr, 5600, 60_000);
  try {
    while (Date.now() - started < 30_000) {
      if ((await echoReaches(client.ns, 'tcp', addr, 5600, { timeoutMs: 500 })) === want) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    echo.stop();
  }
  throw new Error(`${what}: traffic still ${want ? 'dropped' : 'passing'} after 30 s`);
}

/** What an editor does to a pod manifest: rewrite it with other labels (atomically, as most do). */
function relabel(file: string, labels: Record<string, string>): void {
  const doc = parse(readFileSync(file, 'utf8')) as { metadata: { labels: Record<string, string> } };
  doc.metadata.labels = labels;
  writeFileSync(`${file}.new`, stringify(doc));
  renameSync(`${file}.new`, file);
}

describe.skipIf(!isRoot)('live policy updates from the local stores, real traffic', () => {
  let tb: PolicyTestbed | undefined;
  let agent: RunningAgent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    stopEchoServers();
    await tb?.cleanup();
    tb = undefined;
    await destroyAllNetns();
    cleanupTemps();
  });

  it('pod labels, policies and namespace labels take effect without a command', async () => {
    tb = await makePolicyTestbed();
    const server = await tb.pod('server', { app: 'server' });
    const client = await tb.pod('client', { app: 'other' });
    const addr: Record<string, string> = {};
    for (const [i, p] of [server, client].entries()) {
      const conf = {
        bridge: 'brlv0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `10.84.0.${i + 2}/24` }] },
      };
      const ips = await tb.plugin(p, 'bridge', conf);
      tb.attach(p, 'default/net1', 'net1', ips);
      addr[p.name] = ips[0]!;
    }
    const opts = tb.opts;
    const where = [
      '--policy-dir',
      opts.policyDir,
      '--pod-dir',
      opts.podDir,
      '--cache-dir',
      opts.cacheDir,
      '--bpf-root',
      opts.bpfRoot,
    ];
    const options = parseAgentOptions(
      [
        '--socket',
        join(makeTempDir('braid-t-live-sock'), 'braid.sock'),
        '--metrics-address',
        'off',
        '--shutdown-grace',
        '1',
        ...where,
      ],
      {},
    );
    if (options === 'help') throw new Error('unexpected');
    const logs: string[] = [];
    agent = await startAgent(options, { log: (l) => logs.push(l), env: {} });
    expect(agent.cache).toBeUndefined();
    const s = addr.server!;
    expect(await until(true, server, client, s, 'no policy yet')).toBeGreaterThanOrEqual(0);

    // Only writes the store, as a configuration tool or `cp` into the store would.
    const dir = makeTempDir('braid-t-live');
    const store = new PolicyStore(opts.policyDir);
    const put = (name: string, text: string) => {
      writeFileSync(join(dir, `${name}.yaml`), text);
      store.apply([join(dir, `${name}.yaml`)]);
    };
    put(
      'p',
      policy(
        'from-clients',
        'podSelector: {matchLabels: {app: server}}\ningress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]',
      ),
    );
    const timings: Record<string, number> = {};
    timings.policyStored = await until(false, server, client, s, 'policy stored');

    relabel(join(opts.podDir, 'test', 'client.yaml'), { app: 'client' });
    timings.podRelabelled = await until(true, server, client, s, 'client relabelled app=client');

    put(
      'p',
      policy(
        'from-clients',
        'podSelector: {matchLabels: {app: server}}\ningress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]',
      ),
    );
    timings.policyChanged = await until(false, server, client, s, 'policy now wants namespace team=blue');
    put('ns', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: test, labels: {team: blue}}\n');
    timings.namespaceLabelled = await until(true, server, client, s, 'namespace test labelled team=blue');

    // A bound to notice, never to fail on: the machine may be busy.
    console.log(`live update, ms until traffic followed: ${JSON.stringify(timings)}`);
    expect(logs.join('\n')).toMatch(/policies follow the local stores/);
    expect(logs.filter((l) => l.startsWith('policy:'))).toEqual([]);
  });
});
