import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Netns } from './netns.ts';

/**
 * Traffic checks between test namespaces with python3 (this machine type has no ping): an echo
 * server bound to one address inside a namespace, and a client that sends a payload and expects it
 * back. Everything is bounded in time; servers also die with their namespace (Netns.destroy kills
 * what runs inside) and stopEchoServers() kills them explicitly.
 */

export type Protocol = 'tcp' | 'udp';

/** Debian's python3 starts faster than a pyenv shim that may come first on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const SERVER = `
import socket, sys, time
proto, addr, port, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + lifetime
family = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
while True:
    try:
        # getaddrinfo: a scoped link-local address (fe80::1%net1) gets its interface index
        s.bind(socket.getaddrinfo(addr, port, family, s.type)[0][4])
        break
    except OSError:
        # a new IPv6 address stays tentative (DAD) for a moment
        if time.monotonic() > deadline: raise
        time.sleep(0.05)
if proto == 'tcp': s.listen(16)
print('ready', s.getsockname()[1], flush=True)
while time.monotonic() < deadline:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        if proto == 'tcp':
            conn, _ = s.accept()
            with conn:
                conn.settimeout(2)
                conn.sendall(conn.recv(65536))
        else:
            data, peer = s.recvfrom(65536)
            s.sendto(data, peer)
    except OSError:
        pass
`;

const CLIENT = `
import socket, sys
proto, addr, port, timeout, payload, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5].encode(), sys.argv[6]
family = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
s.settimeout(timeout)
try:
    if source: s.bind((source, 0))
    # getaddrinfo: a scoped link-local address (fe80::1%net1) gets its interface index
    to = socket.getaddrinfo(addr, port, family, s.type)[0][4]
    if proto == 'tcp':
        s.connect(to)
        s.sendall(payload)
        data = s.recv(65536)
    else:
        s.sendto(payload, to)
        data, _ = s.recvfrom(65536)
except OSError as e:
    print(f'{proto} {addr}:{port}: {e}', file=sys.stderr)
    sys.exit(1)
sys.exit(0 if data == payload else 2)
`;

export interface EchoServer {
  readonly port: number;
  stop(): void;
}

const servers = new Set<ChildProcess>();

/** Starts an echo server inside ns on address:port (0: any free port) that exits after lifetimeMs. */
export function startEchoServer(
  ns: Netns,
  protocol: Protocol,
  address: string,
  port = 0,
  lifetimeMs = 60_000,
): Promise<EchoServer> {
  const args = [
    `--net=${ns.path}`,
    '--',
    PYTHON,
    '-c',
    SERVER,
    protocol,
    address,
    String(port),
    String(lifetimeMs / 1000),
  ];
  const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(child);
  const stop = () => {
    servers.delete(child);
    child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const failed = (why: string) => {
      stop();
      reject(new Error(`${protocol} echo server on ${address} in ${ns.name}: ${why} ${stderr.trim()}`));
    };
    const timer = setTimeout(() => failed('not ready after 5 s'), 5_000);
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
      const ready = /^ready (\d+)$/m.exec(stdout);
      if (ready) {
        clearTimeout(timer);
        resolve({ port: Number(ready[1]), stop });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      servers.delete(child);
      failed(`exited with ${code}`); // no effect once resolved
    });
  });
}

export interface EchoOptions {
  timeoutMs?: number;
  /** Source address to bind the client to. */
  source?: string;
  payload?: string;
}

/** True when a client inside ns gets its payload echoed back from address:port within the time limit. */
export async function echoReaches(
  ns: Netns,
  protocol: Protocol,
  address: string,
  port: number,
  options: EchoOptions = {},
): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const payload = options.payload ?? `braid-echo-${process.pid}`;
  const argv = [
    PYTHON,
    '-c',
    CLIENT,
    protocol,
    address,
    String(port),
    String(timeoutMs / 1000),
    payload,
    options.source ?? '',
  ];
  const r = await ns.nsenter(argv, { timeoutMs: timeoutMs + 3_000 });
  return r.code === 0;
}

async function echoOnce(
  protocol: Protocol,
  server: Netns,
  client: Netns,
  address: string,
  options: EchoOptions,
): Promise<boolean> {
  const echo = await startEchoServer(server, protocol, address);
  try {
    return await echoReaches(client, protocol, address, echo.port, options);
  } finally {
    echo.stop();
  }
}

/** Starts a TCP echo server on address inside server, connects from client: pass/fail. */
export function tcpEcho(server: Netns, client: Netns, address: string, options: EchoOptions = {}): Promise<boolean> {
  return echoOnce('tcp', server, client, address, options);
}

/** Same over UDP. */
export function udpEcho(server: Netns, client: Netns, address: string, options: EchoOptions = {}): Promise<boolean> {
  return echoOnce('udp', server, client, address, options);
}

/** Kills every echo server still running; for afterEach. */
export function stopEchoServers(): void {
  for (const child of servers) child.kill('SIGKILL');
  servers.clear();
}
