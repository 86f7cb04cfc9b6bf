import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, agentSocketOf } from '../../src/agent/protocol.ts';
import type { CniRequest } from '../../src/cni/request.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../src/cni/versions.ts';
import { braidBinary, braidUnavailable } from '../helpers/braid-binary.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { THIN_ANSWER, cniEnv, confFor, runProgram, startStubAgent, type Run } from './front-door-testbed.ts';

/**
 * The native front door (host/braid) against an agent server in this process with stub verbs:
 * what it hands over and relays byte for byte, and every way it falls back to the Node
 * implementation (thin mode). The agent's own side of the socket: agent-socket-access.test.ts.
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

const runFront = (env: Record<string, string>, stdin: string | Buffer, argv: string[] = []): Promise<Run> =>
  runProgram([braidBinary(), ...argv], env, stdin);
const startAgent = (seen: CniRequest[] = []) => startStubAgent(closers, seen);

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
  const child = spawn('python3', ['-c', script, path, fillBacklog ? '1' : '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  closers.push(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
}

describe.skipIf(skip)('the front door hands calls to the agent', () => {
  it("relays ADD, a failed ADD, DEL and VERSION byte for byte, with the runtime's whole environment and stdin", async () => {
    const { conf, seen } = await startAgent();
    const odd = 'quote " backslash \\ newline \n tab \t ünïcode ✓ \u0001';
    const stdin = conf({ note: odd });
    const add = await runFront({ ...cniEnv('ADD'), ODD: odd }, stdin);
    expect(add.code).toBe(0);
    expect(add.stderr).toBe('');
    expect(add.stdout.toString()).toBe(
      `${JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: 'ünïcode' }], ips: [] })}\n`,
    );
    expect(seen[0]!.env).toMatchObject({ ODD: odd, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' });
    expect(seen[0]!.env).not.toHaveProperty('VITEST');
    expect(seen[0]!.stdin).toBe(stdin);

    const failed = await runFront(cniEnv('ADD', { CNI_CONTAINERID: 'bad' }), stdin);
    expect(failed.code).toBe(1);
    expect(failed.stdout.toString()).toBe(
      `${JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'NetworkAttachmentDefinition ns/x "quoted" ✓ not found' })}\n`,
    );
    expect(failed.stderr).toBe('');

    const del = await runFront(cniEnv('DEL'), stdin);
    expect([del.code, del.stdout.length, del.stderr]).toEqual([0, 0, '']);
    const version = await runFront({ CNI_COMMAND: 'VERSION' }, conf());
    expect(JSON.parse(version.stdout.toString())).toEqual({
      cniVersion: '1.0.0',
      supportedVersions: [...BRAID_SUPPORTED_VERSIONS],
    });
    expect(seen.map((r) => `${r.command} ${r.containerId}`)).toEqual(['ADD c1', 'ADD bad', 'DEL c1']);

    // What the Node implementation prints when it hands the same call over itself: the same bytes.
    const node = await runProgram([join(dirname(braidBinary()), 'braid-node')], { ...cniEnv('ADD'), ODD: odd }, stdin);
    expect([node.code, node.stderr]).toEqual([0, '']);
    expect(add.stdout.equals(node.stdout)).toBe(true);
  });

  it('finds the socket in the braid plugin of a conflist', async () => {
    const { socketPath, seen } = await startAgent();
    const list = {
      cniVersion: '1.0.0',
      name: 'n',
      plugins: [
        { type: 'other', agentSocket: '/nowhere' },
        { type: 'braid', agentSocket: socketPath },
      ],
    };
    const r = await runFront(cniEnv('DEL'), JSON.stringify(list));
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(seen).toHaveLength(1);
  });
});

describe.skipIf(skip)('the socket a conf names', () => {
  it('is the one agentSocketOf() finds: escapes, duplicate keys, non-string values, conflists', async () => {
    const { socketPath: S, metrics } = await startAgent();
    // Calls the agent answered, whatever it made of the conf.
    const answered = () => metrics.duration.count({ verb: 'DEL' });
    const escaped = JSON.stringify(S).replaceAll('/', '\\/').replace('braid.sock', '\\u0062raid.sock');
    const confs = [
      `{"cniVersion":"1.0.0","name":"braid","agentSocket":${escaped}}`,
      ` \n{ "agentSocket" : "/nowhere/a.sock", "agentSocket" : ${JSON.stringify(S)} }\t`,
      JSON.stringify({ agentSocket: 5, plugins: [{ type: 'braid', agentSocket: S }] }),
      JSON.stringify({
        plugins: [
          { type: 'x', agentSocket: S },
          { type: 'y', agentSocket: '/nowhere' },
        ],
      }),
      JSON.stringify({
        plugins: [
          3,
          { type: 'braid', agentSocket: S, nested: { agentSocket: '/nowhere', list: [{}, [], 1.5e3, null, true] } },
        ],
      }),
      // These name S only in a place agentSocketOf() does not look, or are not JSON: not S.
      JSON.stringify({ plugins: [{ type: 'braid' }, { type: 'x', agentSocket: S }] }),
      JSON.stringify({ nested: { agentSocket: S } }),
      `{"agentSocket":${JSON.stringify(S)}} trailing`,
      `{"agentSocket":${JSON.stringify(S)},}`,
    ];
    for (const conf of confs) {
      const before = answered();
      await runFront(cniEnv('DEL'), conf);
      expect(answered() - before, conf).toBe(agentSocketOf(conf) === S ? 1 : 0);
    }
    expect(answered()).toBe(5);
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
      expect(r.stderr).toMatch(
        full
          ? /did not take the call within its bound \(listen queue full\)/
          : /did not take the call within 500 ms; doing the work in this process/,
      );
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
    expect(groupWritable.stderr).toMatch(
      /not using the agent socket .*: it is in .*\/run, owned by uid 0 with mode 770, not root's alone; doing the work in this process/,
    );
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

  it('the Node implementation reads a conf on stdin whole, from a regular file (the memfd case, read at once) and from a pipe', async () => {
    const dir = makeTempDir('braid-t-front');
    const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'braid', type: 'braid', padding: 'x'.repeat(300_000) });
    const file = join(dir, 'stdin.json');
    writeFileSync(file, conf);
    const node = join(dirname(braidBinary()), 'braid-node');
    const fromFile = await new Promise<Run>((resolve) => {
      const fd = openSync(file, 'r');
      const child = spawn(node, ['--cni-thin'], { env: cniEnv('ADD'), stdio: [fd, 'pipe', 'pipe'] });
      closeSync(fd);
      const out: Buffer[] = [];
      let err = '';
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    });
    const fromPipe = await runProgram([node, '--cni-thin'], cniEnv('ADD'), conf);
    for (const r of [fromFile, fromPipe]) {
      // The conf's own version in the answer, and the conf's own complaint: all of it was parsed.
      expect(r.stdout.toString()).toMatch(THIN_ANSWER);
      expect(JSON.parse(r.stdout.toString()).cniVersion).toBe('0.4.0');
    }
  });

  it('a call larger than the agent reads is done thin without asking the agent', async () => {
    const { conf, seen } = await startAgent();
    const r = await runFront(cniEnv('ADD'), conf({ padding: 'x'.repeat(MAX_REQUEST_BYTES) }));
    expect(r.stderr).toMatch(/exceed what braid-agent reads \(8388608 bytes\); doing the work in this process/);
    expect(r.stdout.toString()).toMatch(THIN_ANSWER);
    expect(seen).toEqual([]);
  });
});

describe.skipIf(skip)('without the Node implementation beside it', () => {
  it('answers a call no agent takes with a CNI error (code 11) naming what is missing', async () => {
    const dir = makeTempDir('braid-t-front');
    const alone = join(dir, 'braid');
    copyFileSync(braidBinary(), alone);
    chmodSync(alone, 0o755);
    const r = await runProgram([alone], cniEnv('ADD'), confFor(join(dir, 'none.sock')));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.toString())).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: expect.stringContaining('braid-node beside braid'),
    });
    expect(r.stderr).toContain(`cannot run ${join(dir, 'braid-node')}`);
  });
});

describe.skipIf(skip)('the command-line tool', () => {
  it('without CNI_COMMAND the front door execs the Node implementation with its arguments at once', async () => {
    const help = await runFront({ PATH: process.env.PATH ?? '' }, '', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('a Multus-compatible meta-CNI plugin');
    const dir = makeTempDir('braid-t-front');
    const confFile = join(dir, 'bad.conf');
    writeFileSync(confFile, '{"cniVersion":"1.0.0","name":"braid","type":"braid"}');
    const validate = await runFront({ PATH: process.env.PATH ?? '' }, '', [
      'validate',
      '--conf',
      confFile,
      '--nad-dir',
      dir,
      '--pod-dir',
      dir,
    ]);
    expect(validate.code).not.toBe(0);
    expect(validate.stdout.toString() + validate.stderr).toMatch(/clusterNetwork/);
    expect(readFileSync(braidBinary()).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  });
});
