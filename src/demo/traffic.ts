import type { ChildProcess } from 'node:child_process';
import { run, startChild, stopChild } from './exec.ts';
import type { DemoNetns } from './netns.ts';

/**
 * A TCP echo between namespaces, written for Node (this very binary's runtime, so nothing else
 * needs to be installed): a server bound to one address inside one namespace, a client bound to
 * an address in another that sends a payload and expects it back. Bounded in time throughout.
 */

const SERVER = `
const net = require('node:net');
const [address, port, lifetimeMs] = process.argv.slice(1);
const server = net.createServer((sock) => {
  sock.on('error', () => {});
  sock.pipe(sock);
});
server.listen({ host: address, port: Number(port) }, () => console.log('ready ' + server.address().port));
setTimeout(() => process.exit(0), Number(lifetimeMs));
`;

const CLIENT = `
const net = require('node:net');
const [address, port, source, payload, timeoutMs] = process.argv.slice(1);
const started = process.hrtime.bigint();
const sock = net.connect({ host: address, port: Number(port), localAddress: source });
let echoed = '';
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail('no echo within ' + timeoutMs + ' ms'), Number(timeoutMs));
sock.on('connect', () => sock.end(payload));
sock.on('data', (b) => (echoed += b));
sock.on('error', (e) => fail(e.message));
sock.on('end', () => {
  if (echoed !== payload) fail('echoed ' + JSON.stringify(echoed));
  console.log(String(Number(process.hrtime.bigint() - started) / 1e6));
  process.exit(0);
});
`;

export interface EchoServer {
  port: number;
  stop(): void;
}

/** port 0: any free port. */
export function startEchoServer(ns: DemoNetns, address: string, port = 0, lifetimeMs = 15_000): Promise<EchoServer> {
  const child: ChildProcess = startChild(
    ns.nsenter([process.execPath, '-e', SERVER, address, String(port), String(lifetimeMs)]),
  );
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stopChild(child);
      reject(new Error(`echo server on ${address} in ${ns.name} not ready after 5 s: ${stderr.trim()}`));
    }, 5_000);
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
      const ready = /^ready (\d+)$/m.exec(stdout);
      if (ready) {
        clearTimeout(timer);
        resolve({ port: Number(ready[1]), stop: () => stopChild(child) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`echo server on ${address} in ${ns.name} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface EchoOutcome {
  ok: boolean;
  /** Round trip including the TCP handshake, as the client measured it. */
  ms?: number;
  error?: string;
}

export async function echoFrom(
  ns: DemoNetns,
  source: string,
  address: string,
  port: number,
  payload: string,
  timeoutMs = 3_000,
): Promise<EchoOutcome> {
  const r = await run(
    ns.nsenter([process.execPath, '-e', CLIENT, address, String(port), source, payload, String(timeoutMs)]),
    {
      timeoutMs: timeoutMs + 5_000,
    },
  );
  if (r.code === 0) return { ok: true, ms: Number(r.stdout.trim()) };
  return { ok: false, error: r.stderr.trim() || `client exited with ${r.code}` };
}
