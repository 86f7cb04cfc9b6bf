import { lstatSync, statSync, type Stats } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { CNI_PATH, MAX_REQUEST_BYTES, type HandOverResponse, agentSocketOf, handOverEnvironment } from './protocol.ts';

/**
 * The `braid` plugin's side of thick mode: when braid-agent's socket is there and answers, the
 * call is handed to the agent; otherwise the caller does the work itself (thin mode).
 *
 * Only node:fs and node:net are loaded: node:http alone costs ~35 ms to load, as much as Node's
 * whole start. The exchange is a single HTTP/1.0 request, so the agent's (node:http) server
 * answers without chunked encoding and closes the connection: the answer is everything up to
 * the close. The agent sends its status line as soon as it has read the call (taken it); a close
 * before the full answer means it died on the way.
 *
 * The agent gets the plugin's whole environment and starts the delegates with it, so a delegate
 * sees the same environment in both modes.
 *
 * Falling back is always safe: the plugin's own work takes the same per-container lock as the
 * agent's, ADD finishes a half-done earlier ADD before starting, and DEL of what is gone succeeds.
 */

export interface HandOverOptions {
  /** How long the agent may take to accept the call (send its status line). */
  acceptTimeoutMs?: number;
  /** Where to report why the call was not handed over; default stderr. */
  log?: (line: string) => void;
}

/** DEL must never wait on an agent in trouble: a short bound, then the plugin does it itself. */
export const DEL_ACCEPT_TIMEOUT_MS = 500;
/**
 * Other verbs queue in the agent; the agent accepts at once even when the queue is long, but a
 * burst can keep its event loop busy for seconds, and falling back then would add a Node process
 * per call to the burst (the front door, cmd/braid-front/front.h ACCEPT_MS, waits as long).
 */
export const ACCEPT_TIMEOUT_MS = 10_000;

function socketExists(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

const rootsAlone = (st: Stats): boolean => st.uid === 0 && (st.mode & 0o022) === 0;
const modeOf = (st: Stats): string => (st.mode & 0o7777).toString(8).padStart(3, '0');

/**
 * Why the socket at `path` must not get the call, or undefined: the socket and its directory must
 * be root's and writable by nobody else, or someone else could have put it there and would get
 * every pod's conf and environment (the front door, cmd/braid-front/trust.c, checks the same).
 */
export function socketDistrust(path: string): string | undefined {
  const socket = lstatSync(path);
  if (!rootsAlone(socket)) return `it is owned by uid ${socket.uid} with mode ${modeOf(socket)}, not root's alone`;
  const dir = dirname(path);
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    return `it is in ${dir}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return rootsAlone(st)
    ? undefined
    : `it is in ${dir}, owned by uid ${st.uid} with mode ${modeOf(st)}, not root's alone`;
}

/** The answer in a complete HTTP response, or why there is none. */
function parseResponse(raw: Buffer): HandOverResponse | string {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return 'dropped the connection before answering';
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
  if (status !== '200')
    return `refused the call (HTTP ${status ?? '?'}: ${text
      .slice(end + 4)
      .trim()
      .slice(0, 200)})`;
  try {
    const answer = JSON.parse(text.slice(end + 4)) as HandOverResponse;
    if (typeof answer.exitCode === 'number') return answer;
  } catch {
    // a truncated body: the agent went away mid-answer
  }
  return 'dropped the connection before answering';
}

/**
 * Hands one plugin call to the agent. Resolves to the agent's outcome, or to undefined when the
 * caller must do the work itself: no socket, nobody listening, no timely acceptance, or the
 * connection lost before the full answer, or a call too large to hand over.
 */
export function handOver(
  env: Record<string, string | undefined>,
  stdin: string,
  opts: HandOverOptions = {},
): Promise<HandOverResponse | undefined> {
  const socketPath = agentSocketOf(stdin);
  if (socketPath === '' || !socketExists(socketPath)) return Promise.resolve(undefined);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const distrust = socketDistrust(socketPath);
  if (distrust) {
    log(`braid: not using the agent socket ${socketPath}: ${distrust}; doing the work in this process`);
    return Promise.resolve(undefined);
  }
  const acceptTimeoutMs =
    opts.acceptTimeoutMs ?? (env.CNI_COMMAND === 'DEL' ? DEL_ACCEPT_TIMEOUT_MS : ACCEPT_TIMEOUT_MS);
  const body = Buffer.from(JSON.stringify({ env: handOverEnvironment(env), stdin }));
  if (body.length > MAX_REQUEST_BYTES) {
    log(
      `braid: the call's environment and conf (${body.length} bytes) exceed what braid-agent reads (${MAX_REQUEST_BYTES} bytes); doing the work in this process`,
    );
    return Promise.resolve(undefined);
  }
  const head = `POST ${CNI_PATH} HTTP/1.0\r\nHost: braid-agent\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect(socketPath);
    const finish = (outcome: HandOverResponse | undefined, why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(acceptTimer);
      if (why) log(`braid: agent at ${socketPath} ${why}; doing the work in this process`);
      socket.destroy();
      resolve(outcome);
    };
    const acceptTimer = setTimeout(
      () => finish(undefined, `did not take the call within ${acceptTimeoutMs} ms`),
      acceptTimeoutMs,
    );
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(head), body])));
    socket.on('data', (chunk: Buffer) => {
      clearTimeout(acceptTimer);
      chunks.push(chunk);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // A socket file nobody listens on is a stopped agent: quietly thin mode.
      finish(
        undefined,
        e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? undefined : `failed (${e.code ?? e.message})`,
      );
    });
    socket.on('close', () => {
      const answer = parseResponse(Buffer.concat(chunks));
      if (typeof answer === 'string') finish(undefined, answer);
      else finish(answer);
    });
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
