import http from 'node:http';
import https from 'node:https';
import { authorizationHeader, type KubeAccess } from './kubeconfig.ts';

/**
 * One Kubernetes watch request: a long-lived GET whose body is one JSON event per line. The
 * caller reconnects; this only reports how the stream ended. A stream that stays silent longer
 * than `idleTimeoutMs` is treated as dead (a half-open connection never ends on its own), so the
 * server's `timeoutSeconds` and its bookmarks must come more often than that.
 */

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent {
  type: WatchEventType;
  object: { metadata?: { resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };
}

export type WatchEnd =
  /** The server ended the stream (timeoutSeconds) or stop() was called: watch again from the last version. */
  | { kind: 'closed' }
  /** 410 Gone: the version is older than the server keeps; list again. */
  | { kind: 'gone'; message: string }
  /** Any other failure: wait, then watch again. */
  | { kind: 'failed'; reason: string };

export interface WatchOptions {
  idleTimeoutMs: number;
  /** Bound on the wait for the response headers (a server that accepted but never answers). */
  headerTimeoutMs: number;
  /** Bound on a single event line (a huge object is a broken stream, not something to buffer forever). */
  maxLineBytes?: number;
}

export interface WatchHandle {
  readonly ended: Promise<WatchEnd>;
  stop(): void;
}

const MAX_LINE_BYTES = 32 * 1024 * 1024;

/** An http(s) agent for long-lived requests to this API server: no connection reuse, same TLS settings as KubeClient. */
export function watchAgent(access: KubeAccess): http.Agent {
  if (!access.server.startsWith('https:')) return new http.Agent({ keepAlive: false });
  return new https.Agent({
    keepAlive: false,
    ...(access.ca ? { ca: access.ca } : {}),
    ...(access.clientCert ? { cert: access.clientCert, key: access.clientKey } : {}),
    ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
    rejectUnauthorized: !access.insecureSkipTlsVerify,
  });
}

function statusOf(value: unknown): { code?: number; message?: string; reason?: string } {
  return (value && typeof value === 'object' ? value : {}) as { code?: number; message?: string; reason?: string };
}

/** How a non-200 answer ends the watch: 410 means list again, anything else means watch again later. */
function endOnErrorResponse(res: http.IncomingMessage, finish: (end: WatchEnd) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const message = statusOf(body).message ?? `HTTP ${res.statusCode}`;
    finish(
      res.statusCode === 410
        ? { kind: 'gone', message }
        : { kind: 'failed', reason: `HTTP ${res.statusCode}: ${message}` },
    );
  });
}

interface LineReader {
  maxLineBytes: number;
  /** Every chunk: the stream is alive. */
  onChunk: () => void;
  onLine: (line: string) => void;
  /** No more lines once the watch has ended (a line may end it). */
  isDone: () => boolean;
  finish: (end: WatchEnd) => void;
}

/** Splits a 200 answer's body into event lines, and ends the watch when the stream ends. */
function readEventLines(res: http.IncomingMessage, r: LineReader): void {
  let pending = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    r.onChunk();
    pending += chunk;
    if (pending.length > r.maxLineBytes) return r.finish({ kind: 'failed', reason: 'event line too long' });
    let nl: number;
    while (!r.isDone() && (nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') r.onLine(line);
    }
  });
  res.on('end', () => r.finish({ kind: 'closed' }));
  res.on('error', (e: NodeJS.ErrnoException) => r.finish({ kind: 'failed', reason: e.code ?? e.message }));
  res.on('close', () =>
    r.finish(res.complete ? { kind: 'closed' } : { kind: 'failed', reason: 'connection closed mid-stream' }),
  );
}

/**
 * One event line: handed to `onEvent` (unknown types and lines without an object are skipped), or
 * the end it means: an ERROR event, a line that is not JSON, a handler that threw.
 */
function dispatchLine(line: string, onEvent: (e: WatchEvent) => void): WatchEnd | undefined {
  let event: { type?: string; object?: unknown };
  try {
    event = JSON.parse(line) as { type?: string; object?: unknown };
  } catch {
    return { kind: 'failed', reason: 'an event line is not JSON' };
  }
  if (event.type === 'ERROR') {
    const status = statusOf(event.object);
    const message = status.message ?? 'watch error';
    return status.code === 410
      ? { kind: 'gone', message }
      : { kind: 'failed', reason: `watch error ${status.code ?? '?'}: ${message}` };
  }
  if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED' && event.type !== 'BOOKMARK')
    return undefined;
  if (!event.object || typeof event.object !== 'object') return undefined;
  try {
    onEvent(event as WatchEvent);
  } catch (e) {
    return { kind: 'failed', reason: `handling a ${event.type} event failed: ${(e as Error).message}` };
  }
  return undefined;
}

/** Opens `path` (with its query, `watch=1` included) and calls `onEvent` for every event line. */
export function openWatch(
  access: KubeAccess,
  agent: http.Agent,
  path: string,
  onEvent: (e: WatchEvent) => void,
  opts: WatchOptions,
): WatchHandle {
  const url = new URL(access.server);
  const base = url.pathname.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'braid-agent' };
  let settle!: (end: WatchEnd) => void;
  const ended = new Promise<WatchEnd>((resolve) => (settle = resolve));
  let done = false;
  let idleTimer: NodeJS.Timeout | undefined;
  const finish = (end: WatchEnd): void => {
    if (done) return;
    done = true;
    clearTimeout(idleTimer);
    req?.destroy();
    settle(end);
  };
  let req: http.ClientRequest | undefined;
  try {
    const auth = authorizationHeader(access);
    if (auth) headers.authorization = auth;
  } catch (e) {
    finish({ kind: 'failed', reason: (e as Error).message });
    return { ended, stop: () => undefined };
  }
  const transport = url.protocol === 'https:' ? https : http;
  const armIdle = (ms = opts.idleTimeoutMs): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish({ kind: 'failed', reason: `no data for ${ms} ms` }), ms);
  };
  req = transport.request({
    agent,
    method: 'GET',
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || (url.protocol === 'https:' ? 443 : 80),
    path: base + path,
    headers,
  });
  armIdle(opts.headerTimeoutMs);
  req.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'failed', reason: e.code ?? e.message }));
  req.on('response', (res) => {
    armIdle();
    if (res.statusCode !== 200) {
      endOnErrorResponse(res, finish);
      return;
    }
    readEventLines(res, {
      maxLineBytes: opts.maxLineBytes ?? MAX_LINE_BYTES,
      onChunk: () => armIdle(),
      onLine: (line) => {
        const end = dispatchLine(line, onEvent);
        if (end) finish(end);
      },
      isDone: () => done,
      finish,
    });
  });
  req.end();
  return { ended, stop: () => finish({ kind: 'closed' }) };
}
