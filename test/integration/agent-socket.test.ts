import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/agent/agent-metrics.ts';
import { handOver } from '../../src/agent/client.ts';
import { MAX_REQUEST_BYTES } from '../../src/agent/protocol.ts';
import { ConcurrencyLimiter } from '../../src/agent/limiter.ts';
import { AgentServer } from '../../src/agent/server.ts';
import { CniCode, CniError } from '../../src/base/errors.ts';
import type { CniRequest } from '../../src/cni/request.ts';
import type { PluginHandlers } from '../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../src/cni/versions.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

/**
 * The hand-over between the `braid` plugin process and the agent, both sides in this process
 * with stub verbs: what is answered, the concurrency bound, DEL's bypass, and every way the
 * client gives up on the agent so that the plugin does the work itself.
 */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  cleanupTemps();
});

const env = (command: string, id = 'c1') => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  HOME: '/root',
});

function stubs(delayMs = 0, seen: CniRequest[] = []): PluginHandlers & { peak: number } {
  let running = 0;
  const h = {
    peak: 0,
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    async add(req: CniRequest) {
      seen.push(req);
      running++;
      h.peak = Math.max(h.peak, running);
      await new Promise((r) => setTimeout(r, delayMs));
      running--;
      if (req.containerId === 'bad')
        throw new CniError(CniCode.InvalidConfig, 'NetworkAttachmentDefinition ns/x not found');
      return { cniVersion: '1.0.0', interfaces: [{ name: req.ifname, sandbox: req.netns }], ips: [] };
    },
    async del(req: CniRequest) {
      seen.push(req);
    },
    async check() {},
    async status() {},
    async gc() {},
  };
  return h;
}

async function startServer(handlers: PluginHandlers, limit = 4, ready = true) {
  const dir = makeTempDir('braid-t-agent');
  const socketPath = join(dir, 'run', 'braid.sock');
  const metrics = new AgentMetrics();
  const limiter = new ConcurrencyLimiter(limit);
  metrics.watchLimiter(limiter);
  const server = new AgentServer({
    socketPath,
    handlers,
    limiter,
    metrics,
    health: { live: () => true, notReady: () => (ready ? undefined : 'not yet listed from the API server: pods') },
  });
  await server.listen();
  closers.push(() => server.close());
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket: socketPath });
  return { socketPath, metrics, limiter, server, conf, dir };
}

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('hand-over to the agent', () => {
  it("answers ADD and DEL as the plugin would print them, with the runtime's whole environment", async () => {
    const seen: CniRequest[] = [];
    const { conf, metrics, socketPath } = await startServer(stubs(0, seen));
    const add = await handOver(env('ADD'), conf);
    expect(add).toEqual({
      exitCode: 0,
      output: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/x' }], ips: [] },
    });
    const failed = await handOver(env('ADD', 'bad'), conf);
    expect(failed).toEqual({
      exitCode: 1,
      output: { cniVersion: '1.0.0', code: 7, msg: 'NetworkAttachmentDefinition ns/x not found' },
    });
    expect(await handOver(env('DEL'), conf)).toEqual({ exitCode: 0 });
    expect(seen.map((r) => `${r.command} ${r.containerId}`)).toEqual(['ADD c1', 'ADD bad', 'DEL c1']);
    // Not only CNI_*: the delegates of the call start from this environment, not the agent's.
    for (const req of seen) expect(req.env).toMatchObject({ HOME: '/root', CNI_PATH: '/opt/cni/bin' });
    expect(seen[0]!.env).not.toHaveProperty('VITEST');
    expect(metrics.requests.get({ verb: 'ADD', code: '0' })).toBe(1);
    expect(metrics.requests.get({ verb: 'ADD', code: '7' })).toBe(1);
    const text = (await get(socketPath, '/metrics')).body;
    expect(text).toContain('braid_agent_request_duration_seconds_count{verb="DEL"} 1');
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });

  it('creates the socket 0600 in a 0700 directory and replaces a stale one, but not a live one', async () => {
    const { socketPath, dir } = await startServer(stubs());
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    const second = new AgentServer({
      socketPath,
      handlers: stubs(),
      limiter: new ConcurrencyLimiter(1),
      metrics: new AgentMetrics(),
      health: { live: () => true, notReady: () => undefined },
    });
    await expect(second.listen()).rejects.toThrow(/another agent is listening/);

    // A socket left by an agent that was killed: nobody listens, so it is replaced.
    const stalePath = join(dir, 'stale.sock');
    const killed = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(killed.signal, killed.stderr.toString()).toBe('SIGKILL');
    expect(existsSync(stalePath)).toBe(true);
    expect(await handOver(env('ADD'), JSON.stringify({ type: 'braid', agentSocket: stalePath }))).toBeUndefined();
    const revived = new AgentServer({
      socketPath: stalePath,
      handlers: stubs(),
      limiter: new ConcurrencyLimiter(1),
      metrics: new AgentMetrics(),
      health: { live: () => true, notReady: () => undefined },
    });
    await revived.listen();
    closers.push(() => revived.close());
    const conf = { cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket: stalePath };
    expect(await handOver(env('ADD'), JSON.stringify(conf))).toMatchObject({ exitCode: 0 });
  });

  it('bounds concurrent calls and queues the rest; DEL never waits in the queue', async () => {
    const handlers = stubs(150);
    const { conf, limiter, metrics } = await startServer(handlers, 2);
    const started = Date.now();
    let addsDone = 0;
    const adds = Array.from({ length: 6 }, (_, i) => handOver(env('ADD', `c${i}`), conf).then((r) => (addsDone++, r)));
    await new Promise((r) => setTimeout(r, 50));
    expect(limiter.queued).toBe(4);
    expect(await handOver(env('DEL', 'other'), conf)).toEqual({ exitCode: 0 });
    // Answered while the first two ADDs may be done, long before the queue has drained.
    expect(addsDone).toBeLessThanOrEqual(2);
    const results = await Promise.all(adds);
    expect(results.every((r) => r?.exitCode === 0)).toBe(true);
    expect(handlers.peak).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 150 - 20);
    expect(metrics.queueWait.count({ verb: 'ADD' })).toBe(6);
    expect(limiter.active + limiter.queued).toBe(0);
  });

  it('serves /healthz, /readyz and refuses malformed calls', async () => {
    const { socketPath } = await startServer(stubs(), 1, false);
    expect(await get(socketPath, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(socketPath, '/readyz')).toEqual({
      status: 503,
      body: 'not yet listed from the API server: pods\n',
    });
    const post = (body: string) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const req = http.request({ socketPath, path: '/cni', method: 'POST' }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.end(body);
      });
    expect(await post('{"env": []}')).toEqual({ status: 400, body: '"env" must be an object of strings\n' });
    const withNul = JSON.stringify({ env: { ...env('ADD'), HTTP_PROXY: 'http://a\0b' }, stdin: '{}' });
    expect(await post(withNul)).toEqual({ status: 400, body: 'env.HTTP_PROXY contains a NUL byte\n' });
  });
});

describe('when the plugin does the work itself', () => {
  it('no agentSocket file, or hand-over turned off: at once, without a word', async () => {
    const logs: string[] = [];
    const dir = makeTempDir('braid-t-agent');
    expect(
      await handOver(env('ADD'), JSON.stringify({ type: 'braid', agentSocket: join(dir, 'none.sock') }), {
        log: (l) => logs.push(l),
      }),
    ).toBeUndefined();
    expect(
      await handOver(env('ADD'), JSON.stringify({ type: 'braid', agentSocket: '' }), { log: (l) => logs.push(l) }),
    ).toBeUndefined();
    // A regular file where the socket should be is not an agent either.
    writeFileSync(join(dir, 'file.sock'), '');
    expect(
      await handOver(env('ADD'), JSON.stringify({ type: 'braid', agentSocket: join(dir, 'file.sock') })),
    ).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it('an agent that accepts but never answers: DEL gives up within its short bound', async () => {
    const dir = makeTempDir('braid-t-agent');
    const socketPath = join(dir, 'hung.sock');
    const sockets: net.Socket[] = [];
    const hung = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hung.listen(socketPath, r));
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
    });
    const logs: string[] = [];
    const conf = JSON.stringify({ type: 'braid', agentSocket: socketPath });
    const started = Date.now();
    expect(await handOver(env('DEL'), conf, { log: (l) => logs.push(l) })).toBeUndefined();
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(1_500);
    expect(logs[0]).toMatch(/did not take the call within 500 ms; doing the work in this process/);
    expect(await handOver(env('ADD'), conf, { acceptTimeoutMs: 200, log: () => undefined })).toBeUndefined();
  });

  it("a socket or socket directory that is not root's alone is not handed the call", async () => {
    const seen: CniRequest[] = [];
    const { conf, dir, socketPath } = await startServer(stubs(0, seen));
    const logs: string[] = [];
    chmodSync(join(dir, 'run'), 0o730);
    expect(await handOver(env('ADD'), conf, { log: (l) => logs.push(l) })).toBeUndefined();
    chmodSync(join(dir, 'run'), 0o700);
    chownSync(socketPath, 65534, 65534);
    expect(await handOver(env('ADD'), conf, { log: (l) => logs.push(l) })).toBeUndefined();
    expect(logs).toEqual([
      expect.stringMatching(
        /not using the agent socket .*: it is in .*\/run, owned by uid 0 with mode 730, not root's alone; doing the work in this process/,
      ),
      expect.stringMatching(/not using the agent socket .*: it is owned by uid 65534 with mode 600, not root's alone/),
    ]);
    expect(seen).toEqual([]);
    chownSync(socketPath, 0, 0);
    expect(await handOver(env('ADD'), conf)).toMatchObject({ exitCode: 0 });
  });

  it('a call larger than the agent reads is not handed over', async () => {
    const seen: CniRequest[] = [];
    const { conf } = await startServer(stubs(0, seen));
    const logs: string[] = [];
    const huge = { ...env('ADD'), BIG: 'x'.repeat(MAX_REQUEST_BYTES) };
    expect(await handOver(huge, conf, { log: (l) => logs.push(l) })).toBeUndefined();
    expect(logs[0]).toMatch(/exceed what braid-agent reads \(8388608 bytes\); doing the work in this process/);
    expect(seen).toEqual([]);
  });

  it('an agent that drops the connection after taking the call', async () => {
    const dir = makeTempDir('braid-t-agent');
    const socketPath = join(dir, 'drop.sock');
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"exitCode":');
      setTimeout(() => req.socket.destroy(), 20);
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    closers.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const logs: string[] = [];
    expect(
      await handOver(env('ADD'), JSON.stringify({ type: 'braid', agentSocket: socketPath }), {
        log: (l) => logs.push(l),
      }),
    ).toBeUndefined();
    expect(logs[0]).toMatch(/dropped the connection before answering/);
  });
});
