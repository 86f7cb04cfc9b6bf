import { formatCniArgs } from './args.ts';
import { parseResult, resultToVersion } from './convert.ts';
import { CniCode, CniError, asCniError } from '../base/errors.ts';
import { execPlugin } from './exec.ts';
import { findPlugin } from './find.ts';
import type { NetworkConfigList, PluginConf } from './netconf.ts';
import { negotiateVersion, pluginVersions } from './plugin-versions.ts';
import type { CniCommand } from './request.ts';
import type { CniResult } from './result.ts';
import type { DelegateContext } from './list-context.ts';

/**
 * One plugin of a delegate network as braid runs it (runtime.ts runs the lists): found on the
 * CNI path, its version negotiated, its stdin and environment built, run, and its ADD output
 * read as a result.
 */

export interface ResolvedPlugin {
  conf: PluginConf;
  path: string;
  /** The version this plugin is run at. */
  version: string;
  label: string;
}

export async function resolvePlugin(
  list: NetworkConfigList,
  conf: PluginConf,
  ctx: DelegateContext,
): Promise<ResolvedPlugin> {
  const label = `${ctx.label}/${typeof conf.type === 'string' ? conf.type : '?'}`;
  if (typeof conf.type !== 'string') {
    throw new CniError(CniCode.InvalidConfig, `${label}: a plugin of network "${list.name}" has no "type"`);
  }
  const path = findPlugin(conf.type, ctx.cniPath, ctx.hostRoot?.root);
  const versions = await pluginVersions(path, {
    timeoutMs: ctx.timeoutMs,
    hostRoot: ctx.hostRoot,
    spawn: ctx.spawn,
    label,
    ...(ctx.versionCacheDir ? { cacheDir: ctx.versionCacheDir } : {}),
    ...(ctx.env ? { env: ctx.env } : {}),
    ...(ctx.stderr ? { stderr: ctx.stderr } : {}),
  });
  return { conf, path, version: negotiateVersion(list.cniVersion, versions, label), label };
}

/**
 * Resolves every plugin of the list concurrently, but settles all before failing so that no
 * VERSION run outlives the call; the first failure in list order is reported.
 */
export async function resolveAll(list: NetworkConfigList, ctx: DelegateContext): Promise<ResolvedPlugin[]> {
  const settled = await Promise.allSettled(list.plugins.map((conf) => resolvePlugin(list, conf, ctx)));
  return settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    return s.value;
  });
}

/** J3: the capability args this plugin asked for, merged over any runtimeConfig it already has. */
export function runtimeConfigFor(
  conf: PluginConf,
  capabilityArgs: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const declared = conf.capabilities ?? {};
  const chosen = Object.entries(capabilityArgs).filter(([key]) => declared[key] === true);
  const existing = conf.runtimeConfig;
  const base =
    existing && typeof existing === 'object' && !Array.isArray(existing)
      ? (existing as Record<string, unknown>)
      : undefined;
  if (chosen.length === 0) return base;
  return { ...base, ...Object.fromEntries(chosen) };
}

interface Injections {
  prevResult?: CniResult | undefined;
  runtimeConfig?: Record<string, unknown> | undefined;
  extra?: Record<string, unknown>;
}

/** J1: the plugin's own keys unchanged, with the list name and the negotiated version set. */
export function pluginStdin(list: NetworkConfigList, p: ResolvedPlugin, inject: Injections): string {
  const { cniVersion: _v, name: _n, ...rest } = p.conf;
  const conf: Record<string, unknown> = { cniVersion: p.version, name: list.name, ...rest };
  if (inject.runtimeConfig) conf.runtimeConfig = inject.runtimeConfig;
  // L7: a plugin parses prevResult as its config version, so it must arrive in that version.
  if (inject.prevResult) conf.prevResult = resultToVersion(inject.prevResult, p.version);
  Object.assign(conf, inject.extra);
  return JSON.stringify(conf);
}

/** STATUS and GC are not about one container, so (like libcni) they get no container env. */
function pluginEnv(ctx: DelegateContext, command: CniCommand): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env ?? process.env)) if (v !== undefined) env[k] = v;
  const perContainer = command !== 'STATUS' && command !== 'GC';
  env.CNI_COMMAND = command;
  env.CNI_CONTAINERID = perContainer ? ctx.containerId : '';
  env.CNI_NETNS = perContainer ? ctx.netns : '';
  env.CNI_IFNAME = perContainer ? ctx.ifname : '';
  env.CNI_ARGS = perContainer ? formatCniArgs(ctx.args) : '';
  env.CNI_PATH = ctx.cniPath.join(':');
  return env;
}

export async function runDelegate(
  p: ResolvedPlugin,
  command: CniCommand,
  stdin: string,
  ctx: DelegateContext,
): Promise<string> {
  // process.hrtime, not performance.now(): the first use of `performance` loads perf_hooks, ~1 ms of a thin call.
  const started = process.hrtime.bigint();
  try {
    return await runPlugin(p, command, stdin, ctx);
  } finally {
    const type = typeof p.conf.type === 'string' ? p.conf.type : '?';
    ctx.observer?.delegateFinished({ type, verb: command, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
  }
}

function runPlugin(p: ResolvedPlugin, command: CniCommand, stdin: string, ctx: DelegateContext): Promise<string> {
  return execPlugin({
    path: p.path,
    env: pluginEnv(ctx, command),
    stdin,
    timeoutMs: ctx.timeoutMs,
    label: p.label,
    hostRoot: ctx.hostRoot,
    spawn: ctx.spawn,
    ...(ctx.stderr ? { stderr: ctx.stderr } : {}),
    ...(ctx.onAddStart && command === 'ADD' ? { onStart: ctx.onAddStart } : {}),
  });
}

/** A plugin's ADD output in canonical form; anything that is not a result is code 101. */
export function delegateResult(stdout: string, p: ResolvedPlugin): CniResult {
  let obj: unknown;
  try {
    obj = JSON.parse(stdout);
  } catch {
    throw new CniError(
      CniCode.DelegateBadOutput,
      `delegate ${p.label} succeeded but its output is not a CNI result: ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  try {
    return parseResult(obj, p.version);
  } catch (e) {
    throw new CniError(
      CniCode.DelegateBadOutput,
      `delegate ${p.label} returned an unusable result: ${asCniError(e).message}`,
    );
  }
}
