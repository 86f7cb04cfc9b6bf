import { runCommand, type CommandResult } from './exec.ts';
import type { Netns } from './netns.ts';

/** How a test calls a CNI plugin, the way a container runtime does: environment in, config on stdin. */
export interface RunPluginOptions {
  /** CNI_COMMAND: ADD, DEL, CHECK, STATUS, GC, VERSION, or anything else to test rejection. */
  command: string;
  containerId?: string;
  /** CNI_NETNS: a path, or a namespace from createNetns(). */
  netns?: string | Netns;
  ifname?: string;
  /** CNI_ARGS, as a finished string or as pairs joined into `K=V;K2=V2`. */
  args?: string | Record<string, string>;
  /** CNI_PATH: directories joined with ':'. Default /usr/lib/cni (Debian's plugins). */
  path?: string | readonly string[];
  /** Applied last; a key set to undefined is removed, to test a missing CNI_* variable. */
  extraEnv?: Record<string, string | undefined>;
  /** The network configuration: a string is sent as it is, anything else as JSON. */
  stdin?: unknown;
  /** SIGKILL after this long (default 30 s). */
  timeoutMs?: number;
  /**
   * Run the plugin inside this namespace (`nsenter --net=`) so that its "host side" (bridges, host
   * veths, routes) lives in a test namespace instead of the machine's own. A name, a
   * `/run/netns/...` path, or a namespace from createNetns().
   */
  hostNetns?: string | Netns;
}

export interface PluginRun extends CommandResult {
  /** stdout parsed as JSON; undefined when stdout is empty or not JSON. */
  json: Record<string, any> | undefined;
}

export const DEFAULT_CNI_PATH = '/usr/lib/cni';

/** `K=V;K2=V2` from pairs, in insertion order. */
export function formatCniArgs(args: string | Record<string, string>): string {
  if (typeof args === 'string') return args;
  return Object.entries(args)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

function netnsPath(ns: string | Netns): string {
  if (typeof ns !== 'string') return ns.path;
  return ns.includes('/') ? ns : `/run/netns/${ns}`;
}

/**
 * The plugin's complete environment: PATH from this process (so that a plugin finds `ip`, `nsenter`
 * and friends), the CNI_* variables from the options, then extraEnv. Nothing else leaks in from the
 * test runner, as a runtime passes its own small environment.
 */
export function pluginEnv(options: RunPluginOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { CNI_COMMAND: options.command };
  if (process.env.PATH) env.PATH = process.env.PATH;
  if (options.containerId !== undefined) env.CNI_CONTAINERID = options.containerId;
  if (options.netns !== undefined) env.CNI_NETNS = netnsPath(options.netns);
  if (options.ifname !== undefined) env.CNI_IFNAME = options.ifname;
  if (options.args !== undefined) env.CNI_ARGS = formatCniArgs(options.args);
  const cniPath = options.path ?? DEFAULT_CNI_PATH;
  env.CNI_PATH = typeof cniPath === 'string' ? cniPath : cniPath.join(':');
  for (const [key, value] of Object.entries(options.extraEnv ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** The command line: the plugin itself, or nsenter into the host namespace and then the plugin. */
export function pluginArgv(binPath: string, hostNetns?: string | Netns): string[] {
  return hostNetns === undefined ? [binPath] : ['nsenter', `--net=${netnsPath(hostNetns)}`, '--', binPath];
}

export function stdinText(stdin: unknown): string {
  if (stdin === undefined) return '';
  return typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
}

export function parseJsonOutput(stdout: string): Record<string, any> | undefined {
  if (stdout.trim() === '') return undefined;
  try {
    const value: unknown = JSON.parse(stdout);
    return typeof value === 'object' && value !== null ? (value as Record<string, any>) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a CNI plugin binary once and returns its exit status, output and parsed stdout. */
export async function runPlugin(binPath: string, options: RunPluginOptions): Promise<PluginRun> {
  const r = await runCommand(pluginArgv(binPath, options.hostNetns), {
    env: pluginEnv(options),
    input: stdinText(options.stdin),
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return { ...r, json: parseJsonOutput(r.stdout) };
}
