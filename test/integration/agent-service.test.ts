import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/agent.ts';
import { handOver } from '../../src/agent/client.ts';
import { parseAgentOptions } from '../../src/agent/options.ts';
import { nodeReconciler, type PolicyReconciler } from '../../src/agent/policy-sync.ts';
import type { PluginHandlers } from '../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../src/cni/versions.ts';
import type { PolicyInputs } from '../../src/policy/runtime.ts';
import { FakeWatchApiServer } from '../helpers/fake-apiserver-watch.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

/**
 * braid-agent assembled (startAgent) against the loopback API stand-in: readiness follows the
 * watches, metrics report their health over TCP, and policy changes in the cluster reach the
 * policy reconciler with the cluster as the caches hold it.
 */
let api: FakeWatchApiServer | undefined;
let agent: RunningAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await api?.close();
  api = undefined;
  cleanupTemps();
});

const noopHandlers: PluginHandlers = {
  supportedVersions: BRAID_SUPPORTED_VERSIONS,
  add: async (req) => ({ cniVersion: '1.0.0', interfaces: [{ name: req.ifname }], ips: [] }),
  del: async () => undefined,
  check: async () => undefined,
  status: async () => undefined,
  gc: async () => undefined,
};

function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('braid-agent with a Kubernetes API', () => {
  it('is ready once every watch listed, reports watch health, and feeds policy changes to the reconciler', async () => {
    api = await FakeWatchApiServer.startWatchable();
    api.putNamespace('ns', { team: 'a' });
    api.putPod({
      namespace: 'ns',
      name: 'db',
      nodeName: 'node-b',
      labels: { app: 'db' },
      annotations: {
        'k8s.v1.cni.cncf.io/network-status': JSON.stringify([
          { name: 'ns/lan', interface: 'net1', ips: ['192.168.1.9'], default: false },
        ]),
      },
    });
    api.listDelayMs = 400;
    const dir = makeTempDir('braid-t-agent');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${api.url}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n`,
    );
    const options = parseAgentOptions(
      [
        '--socket',
        join(dir, 'braid.sock'),
        '--metrics-address',
        '127.0.0.1:0',
        '--kubeconfig',
        kubeconfig,
        '--node-name',
        'node-a',
        '--cache-dir',
        join(dir, 'cache'),
        '--bpf-root',
        join(dir, 'bpf'),
      ],
      {},
    );
    if (options === 'help') throw new Error('unexpected');
    const seen: PolicyInputs[] = [];
    const reconciler: PolicyReconciler = {
      reconcile(inputsFor) {
        seen.push(inputsFor([]));
        return { interfaces: 0, changed: 0, written: 0, deleted: 0, errors: [] };
      },
    };
    const logs: string[] = [];
    agent = await startAgent(options, {
      log: (l) => logs.push(l),
      env: {},
      handlers: noopHandlers,
      policyReconciler: reconciler,
      policyDebounceMs: 20,
    });
    const port = agent.metricsPort!;

    const early = await fetchText(port, '/readyz');
    expect(early.status).toBe(503);
    expect(early.body).toMatch(/not yet listed from the API server: .*pods/);
    expect((await fetchText(port, '/healthz')).status).toBe(200);
    // The policy reconciler waits for the lists: an empty cluster would open isolated interfaces.
    expect(seen).toHaveLength(0);
    await until('ready', async () => (await fetchText(port, '/readyz')).status === 200);
    await until('the first reconcile', () => seen.length >= 1);
    expect(
      seen[0]!.view.pods.map((p) => `${p.namespace}/${p.name} ${p.attachments.map((a) => a.ips.join()).join()}`),
    ).toEqual(['ns/db 192.168.1.9']);
    expect(seen[0]!.view.namespaces.find((n) => n.name === 'ns')?.labels.team).toBe('a');

    // An ADD through the agent does not reconcile the node: the agent's own policy hooks enforce
    // the cluster's policies on the new pod before the answer (agent-thick, agent-policy-later).
    const before = seen.length;
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'braid',
      type: 'braid',
      agentSocket: join(dir, 'braid.sock'),
    });
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/x',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
    };
    expect(await handOver(env, conf)).toMatchObject({ exitCode: 0 });
    expect(seen.length).toBe(before);

    api.putPolicy(
      'ns',
      'db-only',
      { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [] },
      { 'k8s.v1.cni.cncf.io/policy-for': 'lan' },
    );
    await until('the policy reached the reconciler', () => seen.at(-1)!.policies.some((p) => p.name === 'db-only'));
    api.deletePolicy('ns', 'db-only');
    await until('the deletion reached the reconciler', () => seen.at(-1)!.policies.length === 0);

    const metrics = (await fetchText(port, '/metrics')).body;
    for (const resource of ['nads', 'pods', 'namespaces', 'policies'])
      expect(metrics).toContain(`braid_watch_synced{resource="${resource}"} 1`);
    expect(metrics).toContain('braid_cache_objects{cache="pods"} 1');
    expect(metrics).toMatch(/braid_watch_events_total\{resource="policies",type="ADDED"\} 1/);
    expect(metrics).toMatch(/braid_policy_reconciles_total\{result="ok"\} [1-9]/);
    // /cni is served on the root-only unix socket, never over TCP.
    expect(
      await new Promise<number>((resolve) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/cni', method: 'POST', agent: false },
          (res) => (res.resume(), resolve(res.statusCode ?? 0)),
        );
        req.end('{}');
      }),
    ).toBe(405);
  });

  it('without Kubernetes access it still serves plugin calls, and is ready at once', async () => {
    const dir = makeTempDir('braid-t-agent');
    const stores = [
      '--policy-dir',
      join(dir, 'policies'),
      '--pod-dir',
      join(dir, 'pods'),
      '--cache-dir',
      join(dir, 'cache'),
      '--bpf-root',
      join(dir, 'bpf'),
    ];
    const options = parseAgentOptions(
      ['--socket', join(dir, 'braid.sock'), '--metrics-address', '127.0.0.1:0', ...stores],
      {},
    );
    if (options === 'help') throw new Error('unexpected');
    const logs: string[] = [];
    agent = await startAgent(options, { log: (l) => logs.push(l), env: {}, handlers: noopHandlers });
    expect(agent.cache).toBeUndefined();
    expect((await fetchText(agent.metricsPort!, '/readyz')).status).toBe(200);
    expect(logs.join('\n')).toMatch(/no Kubernetes access configured.*policies follow the local stores/);
  });

  it('the node reconciler on a node without the policy datapath: nothing enforced, nothing to do', () => {
    const dir = makeTempDir('braid-t-agent');
    const reconciler = nodeReconciler({
      bpfRoot: join(dir, 'bpf'),
      policyDir: join(dir, 'policies'),
      podDir: join(dir, 'pods'),
      cacheDir: join(dir, 'cache'),
    });
    let asked = 0;
    const report = reconciler.reconcile(() => {
      asked++;
      return { policies: [], view: { pods: [], namespaces: [] } };
    });
    expect(report).toEqual({ interfaces: 0, changed: 0, written: 0, deleted: 0, errors: [] });
    expect(asked).toBe(0);
  });
});
