import { chmodSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname } from 'node:path';
import { trace } from '../base/trace.ts';
import { handleInvocation, type PluginHandlers, type PluginOutcome } from '../cni/skel.ts';
import type { ConcurrencyLimiter } from './limiter.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.ts';
import { peerUid } from './peer-cred.ts';
import { CNI_PATH, MAX_REQUEST_BYTES, requestProblem, type HandOverRequest } from './protocol.ts';
import { sendShimOutcome, shimRequestOf, type ShimAdaptation } from './multus-api.ts';

/**
 * The agent's HTTP endpoints. The unix socket (0600, in a directory only root can write) serves
 * plugin calls and the health endpoints to callers whose peer credentials are root's; the optional
 * TCP listener serves only /healthz, /readyz and /metrics, for kubelet's probes and Prometheus.
 */
export interface HealthView {
  /** False while shutting down. */
  live(): boolean;
  /** Undefined when ready, else why not. */
  notReady(): string | undefined;
}

export interface AgentServerOptions {
  socketPath: string;
  handlers: PluginHandlers;
  limiter: ConcurrencyLimiter;
  metrics: AgentMetrics;
  health: HealthView;
  /**
   * Called when a plugin call is done, before its answer goes out (still in its slot): policy for
   * a new pod's interfaces is in place before the runtime starts the pod's containers.
   */
  beforeAnswer?: (verb: string, outcome: PluginOutcome) => void;
  /** The uid of a unix socket caller (default: SO_PEERCRED); undefined when unknown. */
  peerUid?: (socket: net.Socket) => number | undefined;
  /** Multus' `POST /delegate` (interface hot-plug), when served (multus-delegate.ts). */
  multusDelegate?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** How a Multus shim's conf becomes braid's (multus-api.ts). */
  multusShim?: ShimAdaptation;
}

function send(res: http.ServerResponse, code: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A socket file nobody answers on is left over from an agent that died; one that answers is in use. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const inUse = await new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (inUse) throw new Error(`another agent is listening on ${path}`);
  rmSync(path, { force: true });
}

/**
 * The socket's directory: created 0700 when missing; an existing one is used as it is (the agent
 * never changes permissions it does not own: `--socket /run/x.sock` must not make /run root-only),
 * and only when root owns it and nobody else can write it, since whoever can write it can put
 * their own socket where the plugin looks for the agent.
 */
export function prepareSocketDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`the socket directory ${dir} is not a directory`);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    throw new Error(
      `the socket directory ${dir} is owned by uid ${st.uid} with mode ${mode}; braid-agent needs one that root owns and nobody else can write, and does not change an existing one`,
    );
  }
}

export class AgentServer {
  private readonly unixServer: http.Server;
  private tcpServer: http.Server | undefined;
  /** Peer uid per connection, read once (a connection may carry several requests). */
  private readonly peers = new WeakMap<net.Socket, number | undefined>();

  constructor(private readonly opts: AgentServerOptions) {
    this.unixServer = http.createServer(
      { requestTimeout: 0, keepAliveTimeout: 1_000 },
      (req, res) => void this.route(req, res, true),
    );
  }

  async listen(): Promise<void> {
    prepareSocketDir(dirname(this.opts.socketPath));
    await clearStaleSocket(this.opts.socketPath);
    // The socket is created with the umask's mode; no moment where others may connect.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.unixServer.once('error', reject);
        this.unixServer.listen(this.opts.socketPath, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(this.opts.socketPath, 0o600);
  }

  /** Health and metrics over TCP, e.g. host:port "0.0.0.0:9464"; resolves to the bound port. */
  async listenTcp(host: string, port: number): Promise<number> {
    const server = http.createServer((req, res) => void this.route(req, res, false));
    this.tcpServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  /** Stops taking calls and removes the socket (new plugin calls then work thin); running calls finish. */
  async close(): Promise<void> {
    const closing = [this.unixServer, this.tcpServer]
      .filter((s): s is http.Server => s !== undefined)
      .map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    rmSync(this.opts.socketPath, { force: true });
    for (const s of [this.unixServer, this.tcpServer]) s?.closeIdleConnections();
    await Promise.all(closing);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse, unix: boolean): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (unix) {
        const uid = this.callerUid(req.socket);
        if (uid !== 0) return send(res, 403, `braid-agent serves only root; this caller is uid ${uid ?? 'unknown'}\n`);
      }
      if (path === CNI_PATH && unix && req.method === 'POST') return await this.serveCall(req, res);
      // Multus' daemon API beside braid's (multus-api.ts): the shim POSTs /healthz, controllers /delegate.
      if (path === '/delegate' && unix && req.method === 'POST' && this.opts.multusDelegate)
        return await this.opts.multusDelegate(req, res);
      const shimHealth = unix && req.method === 'POST' && path === '/healthz';
      if (req.method !== 'GET' && !shimHealth) return send(res, 405, 'method not allowed\n');
      if (path === '/healthz')
        return this.opts.health.live() ? send(res, 200, 'ok\n') : send(res, 500, 'shutting down\n');
      if (path === '/readyz') {
        const why = this.opts.health.live() ? this.opts.health.notReady() : 'shutting down';
        return why === undefined ? send(res, 200, 'ok\n') : send(res, 503, `${why}\n`);
      }
      if (path === '/metrics') return send(res, 200, this.opts.metrics.registry.render(), PROMETHEUS_CONTENT_TYPE);
      send(res, 404, 'not found\n');
    } catch (e) {
      if (!res.headersSent) send(res, 500, `${(e as Error).message}\n`);
      else res.destroy();
    }
  }

  private callerUid(socket: net.Socket): number | undefined {
    if (!this.peers.has(socket)) this.peers.set(socket, (this.opts.peerUid ?? peerUid)(socket));
    return this.peers.get(socket);
  }

  private async serveCall(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // A declared size over the bound is refused before a byte of it is read.
    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES)
      return send(res, 413, `request larger than ${MAX_REQUEST_BYTES} bytes\n`);
    const text = await readBody(req);
    if (text === undefined) return send(res, 413, `request larger than ${MAX_REQUEST_BYTES} bytes\n`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, 'the request body is not JSON\n');
    }
    // Multus' shim sends {env, config}: the same call, answered the way the shim reads it.
    const shim = shimRequestOf(body, this.opts.multusShim);
    const problem = requestProblem(shim ?? body);
    if (problem) return send(res, 400, `${problem}\n`);
    // The runtime's whole environment: the request is parsed from it and every delegate of the
    // call starts from it (CniRequest.env), never from the agent's own environment.
    const { env, stdin } = shim ?? (body as HandOverRequest);
    const verb = env.CNI_COMMAND ?? '';
    trace(`agent: ${verb} request read`);
    // Headers now: the plugin knows the call is taken and will not do it itself.
    if (!shim) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
    }
    let callerGone = false;
    res.on('close', () => (callerGone = !res.writableFinished));

    const { metrics, limiter } = this.opts;
    const arrived = performance.now();
    const run = async (): Promise<PluginOutcome> => {
      metrics.queueWait.observe({ verb }, (performance.now() - arrived) / 1000);
      const done = await handleInvocation(this.opts.handlers, env, stdin);
      trace(`agent: ${verb} handled`);
      try {
        this.opts.beforeAnswer?.(verb, done);
      } catch {
        // the call itself is done; what follows it must not change its answer
      }
      return done;
    };
    // DEL never queues behind ADDs: it frees what a burst of ADDs may be waiting for.
    const outcome = verb === 'DEL' ? await run() : await limiter.run(run, () => !callerGone);
    if (!outcome) {
      metrics.abandoned.inc({ verb });
      return;
    }
    const seconds = (performance.now() - arrived) / 1000;
    const code =
      outcome.exitCode === 0 ? '0' : String((outcome.output as { code?: unknown } | undefined)?.code ?? 'unknown');
    metrics.requests.inc({ verb, code });
    metrics.duration.observe({ verb }, seconds);
    if (shim) return sendShimOutcome(res, verb, outcome);
    res.end(JSON.stringify(outcome));
    trace(`agent: ${verb} answered`);
  }
}
