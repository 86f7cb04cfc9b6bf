import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/agent/agent-metrics.ts';
import { ConcurrencyLimiter } from '../../src/agent/limiter.ts';
import { MAX_REQUEST_BYTES } from '../../src/agent/protocol.ts';
import { AgentServer } from '../../src/agent/server.ts';
import { isRoot } from '../helpers/braid-binary.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { runProgram, startStubAgent, stubs } from './front-door-testbed.ts';

/**
 * braid-agent's side of its unix socket: who it serves (peer credentials), how much it reads, and
 * the socket directory it creates or accepts (it changes only what it owns).
 */
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  cleanupTemps();
});
const startAgent = () => startStubAgent(closers);
const readMode = (path: string): number => statSync(path).mode & 0o7777;

describe.skipIf(!isRoot)('the agent side of the socket', () => {
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
    const run = await runProgram(
      [
        'setpriv',
        '--reuid',
        'nobody',
        '--regid',
        'nogroup',
        '--clear-groups',
        '/usr/bin/python3',
        '-c',
        script,
        socketPath,
      ],
      { PATH: '/usr/bin:/bin' },
      '',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.toString()).toMatch(/^HTTP\/1\.1 403 /);
    expect(run.stdout.toString()).toContain('braid-agent serves only root; this caller is uid 65534');
    expect(seen).toEqual([]);
  });

  it('refuses a request declared larger than it reads before reading it', async () => {
    const { socketPath } = await startAgent();
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(socketPath, () =>
        s.write(`POST /cni HTTP/1.0\r\nContent-Length: ${MAX_REQUEST_BYTES + 1}\r\n\r\n{`),
      );
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
        socketPath,
        handlers: stubs([]),
        limiter: new ConcurrencyLimiter(1),
        metrics: new AgentMetrics(),
        health: { live: () => true, notReady: () => undefined },
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
    await expect(listen(join(dir, 'c.sock'))).rejects.toThrow(
      new RegExp(`socket directory ${dir} is owned by uid 0 with mode 1777; .*does not change an existing one`),
    );
    expect(readMode(dir)).toBe(0o1777);
    expect(existsSync(join(dir, 'c.sock'))).toBe(false);
    chmodSync(dir, 0o700);
    chownSync(dir, 65534, 65534);
    await expect(listen(join(dir, 'd.sock'))).rejects.toThrow(/owned by uid 65534/);
    chownSync(dir, 0, 0);
  });
});
