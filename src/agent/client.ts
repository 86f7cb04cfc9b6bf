import { statSync } from 'node:fs';
import http from 'node:http';
import { CNI_PATH, type HandOverResponse, agentSocketOf, cniEnvironment } from './protocol.ts';

/**
 * The `braid` plugin's side of thick mode: when braid-agent's socket is there and answers, the
 * call is handed to the agent; otherwise the caller does the work itself (thin mode). Only
 * node:fs and node:http are loaded here, so a call the agent takes costs little more than Node's
 * own start.
 *
 * Falling back is always safe: the plugin's own work takes the same per-container lock as the
 * agent's, ADD finishes a half-done earlier ADD before starting, and DEL of what is gone succeeds.
 */

export interface HandOverOptions {
  /** How long the agent may take to accept the call (send its response headers). */
  acceptTimeoutMs?: number;
  /** Where to report why the call was not handed over; default stderr. */
  log?: (line: string) => void;
}

/** DEL must never wait on an agent in trouble: a short bound, then the plugin does it itself. */
export const DEL_ACCEPT_TIMEOUT_MS = 500;
/** Other verbs queue in the agent; the agent accepts at once even when the queue is long. */
export const ACCEPT_TIMEOUT_MS = 3_000;

function socketExists(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Hands one plugin call to the agent. Resolves to the agent's outcome, or to undefined when the
 * caller must do the work itself: no socket, nobody listening, no timely acceptance, or the
 * connection lost before the full answer.
 */
export function handOver(
  env: Record<string, string | undefined>,
  stdin: string,
  opts: HandOverOptions = {},
): Promise<HandOverResponse | undefined> {
  const socketPath = agentSocketOf(stdin);
  if (socketPath === '' || !socketExists(socketPath)) return Promise.resolve(undefined);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const acceptTimeoutMs = opts.acceptTimeoutMs ?? (env.CNI_COMMAND === 'DEL' ? DEL_ACCEPT_TIMEOUT_MS : ACCEPT_TIMEOUT_MS);
  const body = Buffer.from(JSON.stringify({ env: cniEnvironment(env), stdin }));

  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: HandOverResponse | undefined, why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(acceptTimer);
      if (why) log(`braid: agent at ${socketPath} ${why}; doing the work in this process`);
      if (!outcome) req.destroy();
      resolve(outcome);
    };
    const req = http.request({
      socketPath,
      method: 'POST',
      path: CNI_PATH,
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), connection: 'close' },
    });
    const acceptTimer = setTimeout(() => finish(undefined, `did not take the call within ${acceptTimeoutMs} ms`), acceptTimeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A socket file nobody listens on is a stopped agent: quietly thin mode.
      finish(undefined, e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? undefined : `failed (${e.code ?? e.message})`);
    });
    req.on('response', (res) => {
      clearTimeout(acceptTimer);
      if (res.statusCode !== 200) {
        res.resume();
        finish(undefined, `refused the call (HTTP ${res.statusCode})`);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => finish(undefined, 'dropped the connection before answering'));
      res.on('close', () => {
        if (!res.complete) return finish(undefined, 'dropped the connection before answering');
        try {
          const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as HandOverResponse;
          if (typeof answer.exitCode !== 'number') throw new Error('no exitCode');
          finish(answer);
        } catch {
          finish(undefined, 'sent an answer that is not a hand-over response');
        }
      });
    });
    req.end(body);
  });
}

/** Reads the whole of stdin, or undefined when it cannot be read (the fallback reports that). */
export async function readAllStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<string | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  }
}
