/**
 * The contract between the `braid` plugin process and braid-agent over the agent's unix socket:
 * HTTP/1.1, one request per connection. The plugin POSTs what the runtime gave it; the agent
 * answers with what the plugin would have printed and its exit code. Kept free of imports: the
 * plugin loads this on every call.
 *
 * The agent sends the response headers as soon as it has read the request (it has taken the
 * call), and the body once the call is done. So the plugin can tell "agent not there or stuck"
 * (no headers soon) from "agent working on it" (headers, body later).
 */

/** Where the agent listens unless braid's conf says otherwise (conf key `agentSocket`). */
export const DEFAULT_AGENT_SOCKET = '/run/braid/braid.sock';

/** The request path of a plugin call (Multus' shim uses /cni too). */
export const CNI_PATH = '/cni';

/** Largest request body the agent reads: a conf with inline delegates, well below this. */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/** The plugin's request body. */
export interface HandOverRequest {
  /** The CNI_* variables of the plugin's environment, as the runtime set them. */
  env: Record<string, string>;
  /** stdin exactly as the runtime sent it. */
  stdin: string;
}

/** The agent's response body. */
export interface HandOverResponse {
  exitCode: number;
  /** The JSON object the plugin prints on stdout, if any. */
  output?: Record<string, unknown>;
}

/** The plugin environment's CNI_* variables: all the agent needs to parse the call. */
export function cniEnvironment(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CNI_') && v !== undefined) out[k] = v;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The agent socket a conf names: `agentSocket` of the conf itself, or of its braid plugin when it
 * is a conflist. An empty string turns the hand-over off. Unparsable input gets the default: the
 * agent reports the parse error as braid would.
 */
export function agentSocketOf(stdin: string): string {
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch {
    return DEFAULT_AGENT_SOCKET;
  }
  if (!isObject(conf)) return DEFAULT_AGENT_SOCKET;
  if (typeof conf.agentSocket === 'string') return conf.agentSocket;
  if (Array.isArray(conf.plugins)) {
    const plugins = conf.plugins.filter(isObject);
    const braid = plugins.find((p) => p.type === 'braid') ?? plugins[0];
    if (braid && typeof braid.agentSocket === 'string') return braid.agentSocket;
  }
  return DEFAULT_AGENT_SOCKET;
}

/** Checks a decoded request body; returns a message naming the problem, or undefined. */
export function requestProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'the request body is not a JSON object';
  if (!isObject(body.env)) return '"env" must be an object of strings';
  for (const [k, v] of Object.entries(body.env)) if (typeof v !== 'string') return `env.${k} must be a string`;
  if (typeof body.stdin !== 'string') return '"stdin" must be a string';
  return undefined;
}
