import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/agent/agent-metrics.ts';
import { ConcurrencyLimiter } from '../../src/agent/limiter.ts';
import { MAX_REQUEST_BYTES } from '../../src/agent/protocol.ts';
import { AgentServer } from '../../src/agent/server.ts';
import { CniCode, CniError } from '../../src/base/errors.ts';
import type { CniRequest } from '../../src/cni/request.ts';
import type { PluginHandlers } from '../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../src/cni/versions.ts';
import { braidBinary, braidUnavailable } from '../helpers/braid-binary.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

/**
 * The native front door (host/braid) against an agent server in this process with stub verbs:
 * what it hands over and relays byte for byte, and every way it falls back to the Node
 * implementation (thin mode). Thin mode is recognised by its own answer: the confs here have no
 * clusterNetwork, which thin mode refuses (code 7) while the stub agent answers success.
 */
const skip = braidUnavailable();
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  cleanupTemps();
});
beforeAll(() => {
  if (!skip) braidBinary();
}, 60_000);

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a program as a runtime would run the plugin: env and stdin, nothing else. Never spawnSync
 * here: the agent under test answers from this process's event loop.
 */
function runProgram(argv: string[], env: Record<string, string>, stdin: string | Buffer): Promise<Run> {
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(stdin);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err })));
}

const runFront = (env: Record<string, string>, stdin: string | Buffer, argv: string[] = []): Promise<Run> => runProgram([braidBinary(), ...argv], env, stdin);

const cniEnv = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/braid-t-none', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin',
  PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra,
});
const confFor = (agentSocket: string) => JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket });
/** What thin mode answers for the confs here (the stub agent answers success). */
const THIN_ANSWER = /"code":7,"msg":"braid conf: set .*clusterNetwork/;

function stubs(seen: CniRequest[]): PluginHandlers {
  return {
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    async add(req) {
      seen.push(req);
      if (req.containerId === 'bad') throw new CniError(CniCode.InvalidConfig, 'NetworkAttachmentDefinition ns/x "quoted" ✓ not found');
      return { cniVersion: '1.0.0', interfaces: [{ name: req.ifname, sandbox: 'ünïcode' }], ips: [] };
    },
    async del(req) {
      seen.push(req);
    },
    async check() {},
    async status() {},
    async gc() {},
  };
}

async function startAgent(seen: CniRequest[] = []) {
  const dir = makeTempDir('braid-t-front');
  const socketPath = join(dir, 'run', 'braid.sock');
  const server = new AgentServer({
    socketPath, handlers: stubs(seen), limiter: new ConcurrencyLimiter(4), metrics: new AgentMetrics(),
    health: { live: () => true, notReady: () => undefined },
  });
  await server.listen();
  closers.push(() => server.close());
  const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket: socketPath, ...extra });
  return { dir, socketPath, server, conf, seen };
}

/** A unix socket that listens but never accepts (python: the test's own process cannot do that). */
async function neverAccepting(path: string, fillBacklog: boolean): Promise<void> {
  const script = [
    'import socket, sys, time',
    's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)',
    // A full queue: the kernel then refuses a non-blocking connect with EAGAIN.
    'held = []',
    'if sys.argv[2] == "1":',
    '  for _ in range(4):',
    '    c = socket.socket(socket.AF_UNIX); c.setblocking(False)',
    '    try: c.connect(sys.argv[1]); held.append(c)',
    '    except BlockingIOError: break',
    'print("ready", flush=True); time.sleep(60)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, path, fillBacklog ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  closers.push(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
}

describe.skipIf(skip)('the front door hands calls to the agent', () => {
  it('relays ADD, a failed ADD, DEL and VERSION byte for byte, with the runtime\'s whole environment and stdin', async () => {
    const { conf, seen } = await startAgent();
    const odd = 'quote " backslash \\ newline \n tab \t ünïcode ✓ \u0001';
    const stdin = conf({ note: odd });
    const add = await runFront({ ...cniEnv('ADD'), ODD: odd }, stdin);
    expect(add.code).toBe(0);
    expect(add.stderr).toBe('');
    expect(add.stdout.toString()).toBe(`${JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: 'ünïcode' }], ips: [] })}\n`);
    expect(seen[0]!.env).toMatchObject({ ODD: odd, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' });
    expect(seen[0]!.env).not.toHaveProperty('VITEST');
    expect(seen[0]!.stdin).toBe(stdin);

    const failed = await runFront(cniEnv('ADD', { CNI_CONTAINERID: 'bad' }), stdin);
    expect(failed.code).toBe(1);
    expect(failed.stdout.toString()).toBe(`${JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'NetworkAttachmentDefinition ns/x "quoted" ✓ not found' })}\n`);
    expect(failed.stderr).toBe('');

    const del = await runFront(cniEnv('DEL'), stdin);
    expect([del.code, del.stdout.length, del.stderr]).toEqual([0, 0, '']);
    const version = await runFront({ CNI_COMMAND: 'VERSION' }, conf());
    expect(JSON.parse(version.stdout.toString())).toEqual({ cniVersion: '1.0.0', supportedVersions: [...BRAID_SUPPORTED_VERSIONS] });
    expect(seen.map((r) => `${r.command} ${r.containerId}`)).toEqual(['ADD c1', 'ADD bad', 'DEL c1']);

    // What the Node implementation prints when it hands the same call over itself: the same bytes.
    const node = await runProgram([join(dirname(braidBinary()), 'braid-node')], { ...cniEnv('ADD'), ODD: odd }, stdin);
    expect([node.code, node.stderr]).toEqual([0, '']);
    expect(add.stdout.equals(node.stdout)).toBe(true);
  });

  it('finds the socket in the braid plugin of a conflist', async () => {
    const { socketPath, seen } = await startAgent();
    const list = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'other', agentSocket: '/nowhere' }, { type: 'braid', agentSocket: socketPath }] };
    const r = await runFront(cniEnv('DEL'), JSON.stringify(list));
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(seen).toHaveLength(1);
  });
});

describe.skipIf(skip)('the front door does the call thin', () => {
  it('without a socket, with the hand-over off, or with something else at the socket path: quietly', async () => {
    const dir = makeTempDir('braid-t-front');
    writeFileSync(join(dir, 'file.sock'), '');
    for (const agentSocket of [join(dir, 'none.sock'), '', join(dir, 'file.sock')]) {
      const r = await runFront(cniEnv('ADD'), confFor(agentSocket));
      expect(r.code, agentSocket).toBe(1);
      expect(r.stdout.toString()).toMatch(THIN_ANSWER);
      expect(r.stderr).toBe('');
    }
    // Not JSON at all: thin mode reports it (the default socket is not there on a test machine).
    const bad = await runFront(cniEnv('ADD'), Buffer.from([0x7b, 0xff, 0x00]));
    expect(bad.stdout.toString()).toMatch(/"code":(6|7)/);
  });

  it('a socket nobody accepts on: DEL gives up after 500 ms, also when the listen queue is full', async () => {
    const dir = makeTempDir('braid-t-front');
    for (const full of [false, true]) {
      const path = join(dir, `never-${full ? 'full' : 'open'}.sock`);
      await neverAccepting(path, full);
      const started = Date.now();
      const r = await runFront(cniEnv('DEL'), confFor(path));
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(r.stderr).toMatch(full ? /did not take the call within its bound \(listen queue full\)/ : /did not take the call within 500 ms; doing the work in this process/);
      expect(r.stdout.toString()).toMatch(THIN_ANSWER);
    }
  });

  it('an agent that refuses the call, or drops the connection after taking it', async () => {
    const dir = makeTempDir('braid-t-front');
    const socketPath = join(dir, 'drop.sock');
    let calls = 0;
    const server = http.createServer((req, res) => {
      if (calls++ === 0) return void res.writeHead(503).end('draining\n');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"exitCode":0,"output":{"cniVersion":');
      setTimeout(() => req.socket.destroy(), 20);
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    closers.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const refused = await runFront(cniEnv('ADD'), confFor(socketPath));
    expect(refused.stderr).toMatch(/refused the call \(HTTP\/1\.1 503: draining\); doing the work in this process/);
    expect(refused.stdout.toString()).toMatch(THIN_ANSWER);
    const dropped = await runFront(cniEnv('ADD'), confFor(socketPath));
    expect(dropped.stderr).toMatch(/dropped the connection before answering; doing the work in this process/);
    expect(dropped.stdout.toString()).toMatch(THIN_ANSWER);
  });

  it('refuses a socket in a directory others can write, or one root does not own', async () => {
    const { dir, socketPath, conf, seen } = await startAgent();
    chmodSync(join(dir, 'run'), 0o770);
    const groupWritable = await runFront(cniEnv('DEL'), conf());
    expect(groupWritable.stderr).toMatch(/not using the agent socket .*: it is in .*\/run, owned by uid 0 with mode 770, not root's alone; doing the work in this process/);
    expect(groupWritable.stdout.toString()).toMatch(THIN_ANSWER);
    chmodSync(join(dir, 'run'), 0o700);
    chownSync(socketPath, 65534, 65534);
    const foreign = await runFront(cniEnv('DEL'), conf());
    expect(foreign.stderr).toMatch(/not using the agent socket .*: it is owned by uid 65534 with mode 600/);
    expect(seen).toEqual([]);
    chownSync(socketPath, 0, 0);
    expect((await runFront(cniEnv('DEL'), conf())).stderr).toBe('');
    expect(seen).toHaveLength(1);
  });

  it('a call larger than the agent reads is done thin without asking the agent', async () => {
    const { conf, seen } = await startAgent();
    const r = await runFront(cniEnv('ADD'), conf({ padding: 'x'.repeat(MAX_REQUEST_BYTES) }));
    expect(r.stderr).toMatch(/exceed what braid-agent reads \(8388608 bytes\); doing the work in this process/);
    expect(r.stdout.toString()).toMatch(THIN_ANSWER);
    expect(seen).toEqual([]);
  });
});

describe.skipIf(skip)('the agent side of the socket', () => {
  it('serves only root: an unprivileged caller is refused even when the socket lets it connect', async () => {
    const { dir, socketPath, seen } = await startAgent();
    for (const d of [dir, join(dir, 'run')]) chmodSync(d, 0o755);
    chmodSync(socketPath, 0o666);
    const script = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])',
      'body = b\'{"env":{"CNI_COMMAND":"DEL","CNI_CONTAINERID":"c1","CNI_IFNAME":"eth0","CNI_PATH":"/x"},"stdin":"{}"}\'',
      's.sendall(b"POST /cni HTTP/1.0\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)',
      'out = b""',
      'while True:',
      '  b = s.recv(4096)',
      '  if not b: break',
      '  out += b',
      'sys.stdout.write(out.decode())',
    ].join('\n');
    const run = await runProgram(['setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '/usr/bin/python3', '-c', script, socketPath], { PATH: '/usr/bin:/bin' }, '');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toMatch(/^HTTP\/1\.1 403 /);
    expect(run.stdout.toString()).toContain('braid-agent serves only root; this caller is uid 65534');
    expect(seen).toEqual([]);
  });

  it('refuses a request declared larger than it reads before reading it', async () => {
    const { socketPath } = await startAgent();
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(socketPath, () => s.write(`POST /cni HTTP/1.0\r\nContent-Length: ${MAX_REQUEST_BYTES + 1}\r\n\r\n{`));
      let text = '';
      s.on('data', (b) => (text += b.toString()));
      s.on('close', () => resolve(text));
      s.on('error', () => undefined);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain(`request larger than ${MAX_REQUEST_BYTES} bytes`);
  });

  it('creates a missing socket directory 0700, uses an existing one as it is, refuses one others can write', async () => {
    const dir = makeTempDir('braid-t-front');
    const listen = async (socketPath: string) => {
      const server = new AgentServer({
        socketPath, handlers: stubs([]), limiter: new ConcurrencyLimiter(1), metrics: new AgentMetrics(), health: { live: () => true, notReady: () => undefined },
      });
      closers.push(() => server.close());
      await server.listen();
    };
    chmodSync(dir, 0o755);
    await listen(join(dir, 'a.sock'));
    expect(readMode(dir)).toBe(0o755);
    await listen(join(dir, 'new', 'deeper', 'b.sock'));
    expect(readMode(join(dir, 'new', 'deeper'))).toBe(0o700);
    chmodSync(dir, 0o1777);
    await expect(listen(join(dir, 'c.sock'))).rejects.toThrow(new RegExp(`socket directory ${dir} is owned by uid 0 with mode 1777; .*does not change an existing one`));
    expect(readMode(dir)).toBe(0o1777);
    expect(existsSync(join(dir, 'c.sock'))).toBe(false);
    chmodSync(dir, 0o700);
    chownSync(dir, 65534, 65534);
    await expect(listen(join(dir, 'd.sock'))).rejects.toThrow(/owned by uid 65534/);
    chownSync(dir, 0, 0);
  });
});

const readMode = (path: string): number => statSync(path).mode & 0o7777;

describe.skipIf(skip)('the command-line tool', () => {
  it('without CNI_COMMAND the front door execs the Node implementation with its arguments at once', async () => {
    const help = await runFront({ PATH: process.env.PATH ?? '' }, '', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('a Multus-compatible meta-CNI plugin');
    const dir = makeTempDir('braid-t-front');
    const confFile = join(dir, 'bad.conf');
    writeFileSync(confFile, '{"cniVersion":"1.0.0","name":"braid","type":"braid"}');
    const validate = await runFront({ PATH: process.env.PATH ?? '' }, '', ['validate', '--conf', confFile, '--nad-dir', dir, '--pod-dir', dir]);
    expect(validate.code).not.toBe(0);
    expect(validate.stdout.toString() + validate.stderr).toMatch(/clusterNetwork/);
    expect(readFileSync(braidBinary()).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  });
});
