import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { FakeApiServer, type RecordedRequest } from './fake-apiserver.ts';

/**
 * The Kubernetes side of black-box braid tests (and of test/bench/k8s-add.ts, so no vitest here).
 *
 * braid runs inside the test's "node" namespace (nsenter --net), whose loopback is not the test
 * process's, while FakeApiServer listens on the test process's 127.0.0.1. The gateway bridges the
 * two without any address outside the test's namespaces: a child process opens a listening socket
 * inside the node namespace and hands it to this process over Node's IPC channel, and this process
 * pipes every connection it accepts there to the fake API server.
 */

export interface NetnsGateway {
  /** The port braid connects to on 127.0.0.1 inside the namespace. */
  readonly port: number;
  /** Connections accepted inside the namespace: every attempt braid made to reach the API. */
  readonly connections: number;
  close(): Promise<void>;
}

// Runs inside the namespace: listen, hand the listening socket over, leave.
const LISTENER_CODE = `const net = require('node:net');
const s = net.createServer();
s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }, s, () => { s.close(); process.disconnect(); }));`;

/** Accepts connections on 127.0.0.1 inside `netnsPath` and forwards them to 127.0.0.1:`targetPort()` here. */
export async function openNetnsGateway(netnsPath: string, targetPort: () => number): Promise<NetnsGateway> {
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', LISTENER_CODE], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const [port, server] = await new Promise<[number, net.Server]>((resolve, reject) => {
    child.once('message', (m: { port: number }, handle: unknown) => resolve([m.port, handle as net.Server]));
    child.once('exit', (code) => reject(new Error(`gateway listener in ${netnsPath} exited with ${code}: ${stderr}`)));
  });
  const sockets = new Set<net.Socket>();
  let connections = 0;
  server.on('connection', (inside: net.Socket) => {
    connections++;
    const outside = net.connect(targetPort(), '127.0.0.1');
    for (const s of [inside, outside]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inside.destroy();
        outside.destroy();
      });
    }
    inside.pipe(outside).pipe(inside);
  });
  return {
    port,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export type RequestKind = 'pod GET' | 'NAD GET' | 'status PATCH' | 'event POST' | 'other';

export function requestKind(r: RecordedRequest): RequestKind {
  if (r.method === 'GET' && /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+$/.test(r.path)) return 'pod GET';
  if (r.method === 'GET' && r.path.includes('/network-attachment-definitions/')) return 'NAD GET';
  if ((r.method === 'PATCH' || r.method === 'PUT') && /\/pods\/[^/]+\/status$/.test(r.path)) return 'status PATCH';
  if (r.method === 'POST' && r.path.endsWith('/events')) return 'event POST';
  return 'other';
}

export function countByKind(requests: readonly RecordedRequest[]): Record<RequestKind, number> {
  const counts: Record<RequestKind, number> = {
    'pod GET': 0,
    'NAD GET': 0,
    'status PATCH': 0,
    'event POST': 0,
    other: 0,
  };
  for (const r of requests) counts[requestKind(r)]++;
  return counts;
}

export interface KubeBedOptions {
  /** Bearer tokens the API accepts; the first is written to the kubeconfig's tokenFile. Default: no auth. */
  tokens?: string[];
  /** braid conf apiTimeout (s) and apiRetries; small defaults so that a failing test fails fast. */
  apiTimeout?: number;
  apiRetries?: number;
}

export interface KubeBed {
  api: FakeApiServer;
  gateway: NetnsGateway;
  /** The kubeconfig file braid reads (server = the gateway inside the node namespace). */
  kubeconfig: string;
  tokenFile: string | undefined;
  /** The keys that turn braid's Kubernetes path on, merged over `base`. */
  conf(base: Record<string, unknown>, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Writes a new token to the tokenFile and makes the API accept only that one. */
  rotateToken(token: string): void;
  /** Requests the API saw from `mark` (a previous `api.requests.length`) on. */
  requestsSince(mark: number): RecordedRequest[];
  /** Stops the API server; the gateway keeps accepting (and counting) connections that go nowhere. */
  stopApi(): Promise<void>;
  close(): Promise<void>;
}

const open = new Set<KubeBed>();

/** A fake API server reachable from the node namespace at `nodeNetnsPath`, with a kubeconfig in `dir`. */
export async function startKubeBed(dir: string, nodeNetnsPath: string, opts: KubeBedOptions = {}): Promise<KubeBed> {
  const api = await FakeApiServer.start(opts.tokens ? { tokens: opts.tokens } : {});
  const apiPort = Number(new URL(api.url).port);
  let gateway: NetnsGateway;
  try {
    gateway = await openNetnsGateway(nodeNetnsPath, () => apiPort);
  } catch (e) {
    await api.close();
    throw e;
  }
  const tokenFile = opts.tokens ? join(dir, 'token') : undefined;
  if (tokenFile) writeFileSync(tokenFile, `${opts.tokens![0]}\n`);
  const kubeconfig = join(dir, 'braid.kubeconfig');
  writeFileSync(
    kubeconfig,
    stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: `http://127.0.0.1:${gateway.port}` } }],
      users: [{ name: 'braid', user: tokenFile ? { tokenFile } : {} }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'braid' } }],
      'current-context': 'test',
    }),
  );
  let apiRunning = true;
  const bed: KubeBed = {
    api,
    gateway,
    kubeconfig,
    tokenFile,
    conf: (base, extra = {}) => ({
      ...base,
      kubeconfig,
      apiTimeout: opts.apiTimeout ?? 2,
      apiRetries: opts.apiRetries ?? 1,
      ...extra,
    }),
    rotateToken: (token) => {
      if (!tokenFile) throw new Error('rotateToken: the kube bed was started without tokens');
      writeFileSync(tokenFile, `${token}\n`);
      api.tokens = new Set([token]);
    },
    requestsSince: (mark) => api.requests.slice(mark),
    stopApi: async () => {
      if (!apiRunning) return;
      apiRunning = false;
      await api.close();
    },
    close: async () => {
      open.delete(bed);
      await gateway.close();
      await bed.stopApi();
    },
  };
  open.add(bed);
  return bed;
}

/** Closes every kube bed still open; for afterEach. */
export async function closeAllKubeBeds(): Promise<void> {
  for (const bed of [...open]) await bed.close();
}

/** What `ip -j -d addr` shows of one pod interface: the facts network-status must match. */
export interface PodInterface {
  ifname: string;
  mac: string | undefined;
  kind: string | undefined;
  /** Global addresses without prefix length. */
  ips: string[];
}

interface IpJsonRunner {
  ipJson<T = unknown>(args: readonly string[]): Promise<T>;
}

/** The interfaces of a namespace except lo, from `ip -j -d addr show`. */
export async function podInterfaces(ns: IpJsonRunner): Promise<Map<string, PodInterface>> {
  type Entry = {
    ifname: string;
    address?: string;
    linkinfo?: { info_kind?: string };
    addr_info?: { local: string; scope: string }[];
  };
  const entries = await ns.ipJson<Entry[]>(['-d', 'addr', 'show']);
  const out = new Map<string, PodInterface>();
  for (const e of entries) {
    if (e.ifname === 'lo') continue;
    out.set(e.ifname, {
      ifname: e.ifname,
      mac: e.address,
      kind: e.linkinfo?.info_kind,
      ips: (e.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => a.local),
    });
  }
  return out;
}

/** A single-plugin macvlan conf on `master` with host-local IPAM in `ipamDir`. */
export function macvlanConf(
  name: string,
  master: string,
  subnet: string,
  ipamDir: string,
  extra: Record<string, unknown> = {},
) {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'macvlan',
    master,
    mode: 'bridge',
    ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet }]] },
    ...extra,
  };
}

/** A bridge conflist (a cluster network) with host-local IPAM and a default route via the bridge. */
export function bridgeConflist(name: string, bridge: string, subnet: string, gateway: string, ipamDir: string) {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet }]],
          routes: [{ dst: '0.0.0.0/0', gw: gateway }],
        },
      },
    ],
  };
}
