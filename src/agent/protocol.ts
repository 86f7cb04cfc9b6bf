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
export const DEFAULT_AGENT_SOCKET = PATHS.agentSocket;
import { PATHS } from '../base/defaults.ts';

/** The request path of a plugin call (Multus' shim uses /cni too). */
export const CNI_PATH = '/cni';

/**
 * Largest request body the agent reads. The environment is bounded by the kernel (what execve
 * accepts for arguments and environment together: a quarter of the stack limit, 2 MiB with the
 * usual 8 MiB, 6 MiB at most); a conf, even with inline delegates, is a few kilobytes. A bigger
 * call is not handed over: the plugin does it itself.
 */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/** The plugin's request body. */
export interface HandOverRequest {
  /**
   * The plugin's whole environment, as the runtime set it: the agent reads the call from its
   * CNI_* variables and starts every delegate with all of it, as the plugin itself would have.
   */
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

/**
 * The plugin's environment as it goes to the agent: every variable, not only CNI_*, since the
 * delegates the agent starts must see what the runtime gave the plugin (PATH, proxies, a vendor
 * plugin's own settings), not the agent's environment.
 */
export function handOverEnvironment(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
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

/** Why `name=value` cannot be in a process environment (execve would refuse or garble it), or undefined. */
function variableProblem(name: string, value: unknown): string | undefined {
  if (name === '' || name.includes('=') || name.includes('\0'))
    return `env has an invalid variable name ${JSON.stringify(name)}`;
  if (typeof value !== 'string') return `env.${name} must be a string`;
  if (value.includes('\0')) return `env.${name} contains a NUL byte`;
  return undefined;
}

/** Checks a decoded request body; returns a message naming the problem, or undefined. */
export function requestProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'the request body is not a JSON object';
  if (!isObject(body.env)) return '"env" must be an object of strings';
  for (const [k, v] of Object.entries(body.env)) {
    const problem = variableProblem(k, v);
    if (problem) return problem;
  }
  if (typeof body.stdin !== 'string') return '"stdin" must be a string';
  return undefined;
}
