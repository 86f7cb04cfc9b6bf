import { formatCniArgs } from './args.ts';
import { parseResult, resultToVersion } from './convert.ts';
import { CniCode, CniError, asCniError } from '../base/errors.ts';
import type { DelegateProcess } from './delegate-process.ts';
import { execPlugin, type HostRoot, type SpawnDelegate } from './exec.ts';
import { findPlugin } from './find.ts';
import type { Attachment, NetworkConfigList, PluginConf } from './netconf.ts';
import { negotiateVersion, pluginVersions } from './plugin-versions.ts';
import type { CniCommand } from './request.ts';
import type { CniResult } from './result.ts';
import { validateContainerId, validateIfname, validateNetworkName } from './validate.ts';
import { versionAtLeast } from './versions.ts';

/**
 * braid as the CNI runtime of one delegate network (a conflist), like libcni's
 * {Add,Del,Check,GetStatus,GC}NetworkList but with a CNI version negotiated per delegate:
 * each plugin runs at the newest version it shares with the list, and results and prevResults
 * are converted at every hop (L7).
 */

export interface DelegateContext {
  containerId: string;
  netns: string;
  ifname: string;
  args: [string, string][];
  /** Offered to each plugin as `runtimeConfig[key]` when it declares `capabilities[key]: true`. */
  capabilityArgs: Record<string, unknown>;
  cniPath: string[];
  timeoutMs: number;
  versionCacheDir?: string;
  /** Names this network in errors, e.g. `net1 (default/macvlan-conf)`. */
  label: string;
  /**
   * Base environment of every plugin (braid passes the one its own call came with, which in
   * braid-agent is the runtime's, not the agent's); defaults to process.env.
   */
  env?: Record<string, string | undefined>;
  /** Where the plugins' stderr goes; defaults to our stderr. */
  stderr?: NodeJS.WritableStream;
  /** braid-agent --host-root: plugins are found and run in the host's root file system. */
  hostRoot?: HostRoot | undefined;
  /** How delegates are started; undefined: Node's spawn. */
  spawn?: SpawnDelegate | undefined;
  /** Records each ADD plugin's process before it acts (see ExecOptions.onStart). */
  onAddStart?: (proc: DelegateProcess) => void;
  /** Told how long each delegate run took (braid-agent's latency histogram). */
  observer?: DelegateObserver;
}

/** One finished delegate run: its type (the binary's name), the verb, and its wall time. */
export interface DelegateRun {
  type: string;
  verb: CniCommand;
  seconds: number;
}

export interface DelegateObserver {
  delegateFinished(run: DelegateRun): void;
}

interface ResolvedPlugin {
  conf: PluginConf;
  path: string;
  /** The version this plugin is run at. */
  version: string;
  label: string;
}

async function resolvePlugin(list: NetworkConfigList, conf: PluginConf, ctx: DelegateContext): Promise<ResolvedPlugin> {
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
async function resolveAll(list: NetworkConfigList, ctx: DelegateContext): Promise<ResolvedPlugin[]> {
  const settled = await Promise.allSettled(list.plugins.map((conf) => resolvePlugin(list, conf, ctx)));
  return settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    return s.value;
  });
}

/** J3: the capability args this plugin asked for, merged over any runtimeConfig it already has. */
function runtimeConfigFor(
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
function pluginStdin(list: NetworkConfigList, p: ResolvedPlugin, inject: Injections): string {
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

async function run(p: ResolvedPlugin, command: CniCommand, stdin: string, ctx: DelegateContext): Promise<string> {
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
function delegateResult(stdout: string, p: ResolvedPlugin): CniResult {
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

function checkRequest(list: NetworkConfigList, ctx: DelegateContext): void {
  validateNetworkName(list.name, `delegate network ${ctx.label}`);
  if (list.plugins.length === 0) {
    throw new CniError(CniCode.InvalidConfig, `delegate network ${ctx.label} ("${list.name}") has no plugins`);
  }
  validateContainerId(ctx.containerId);
  validateIfname(ctx.ifname);
}

/** D4/G3: the first failure keeps its code; the others are named so none is lost. */
function firstOf(errors: CniError[]): CniError {
  const [first, ...rest] = errors as [CniError, ...CniError[]];
  if (rest.length === 0) return first;
  const also = rest.map((e) => `[code ${e.code}] ${e.message}`).join('; ');
  return new CniError(first.code, `${first.message} (also failed: ${also})`, first.details);
}

/**
 * ADD every plugin in order, each getting the previous one's result (J2). Returns the last
 * result, canonical, labelled with the list's version. No rollback here: the caller DELs.
 */
export async function addNetworkList(list: NetworkConfigList, ctx: DelegateContext): Promise<CniResult> {
  checkRequest(list, ctx);
  const plugins = await resolveAll(list, ctx);
  let prev: CniResult | undefined;
  for (const p of plugins) {
    // Chaining arrived in 0.3.0; older plugins cannot read a prevResult.
    const prevResult = prev && versionAtLeast(p.version, '0.3.0') ? prev : undefined;
    const stdin = pluginStdin(list, p, { prevResult, runtimeConfig: runtimeConfigFor(p.conf, ctx.capabilityArgs) });
    prev = delegateResult(await run(p, 'ADD', stdin, ctx), p);
  }
  return { ...(prev as CniResult), cniVersion: list.cniVersion };
}

/**
 * DEL every plugin in reverse order, past failures (D4); throws the first failure at the end.
 * Plugins older than 0.4.0 get no prevResult, as DEL had none before it.
 */
export async function delNetworkList(
  list: NetworkConfigList,
  ctx: DelegateContext,
  prevResult?: CniResult,
): Promise<void> {
  checkRequest(list, ctx);
  const errors: CniError[] = [];
  for (const conf of [...list.plugins].reverse()) {
    try {
      const p = await resolvePlugin(list, conf, ctx);
      const prev = prevResult && versionAtLeast(p.version, '0.4.0') ? prevResult : undefined;
      await run(
        p,
        'DEL',
        pluginStdin(list, p, { prevResult: prev, runtimeConfig: runtimeConfigFor(conf, ctx.capabilityArgs) }),
        ctx,
      );
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  if (errors.length > 0) throw firstOf(errors);
}

/** CHECK in order, stopping at the first failure; skipped with disableCheck and for plugins < 0.4.0 (E1, E6). */
export async function checkNetworkList(
  list: NetworkConfigList,
  ctx: DelegateContext,
  prevResult: CniResult,
): Promise<void> {
  if (list.disableCheck) return;
  checkRequest(list, ctx);
  for (const conf of list.plugins) {
    const p = await resolvePlugin(list, conf, ctx);
    if (!versionAtLeast(p.version, '0.4.0')) continue;
    await run(
      p,
      'CHECK',
      pluginStdin(list, p, { prevResult, runtimeConfig: runtimeConfigFor(conf, ctx.capabilityArgs) }),
      ctx,
    );
  }
}

/**
 * STATUS of every plugin that can answer it (runs at 1.1.0), in order; the first failure is
 * returned (F3). A plugin binary that is missing means ADD cannot work: code 50.
 */
export async function statusNetworkList(list: NetworkConfigList, ctx: DelegateContext): Promise<void> {
  validateNetworkName(list.name, `delegate network ${ctx.label}`);
  for (const conf of list.plugins) {
    let p: ResolvedPlugin;
    try {
      p = await resolvePlugin(list, conf, ctx);
    } catch (e) {
      const err = asCniError(e);
      if (err.code !== CniCode.InvalidConfig) throw err;
      throw new CniError(CniCode.NotAvailable, `${ctx.label}: cannot service ADD: ${err.message}`);
    }
    if (!versionAtLeast(p.version, '1.1.0')) continue;
    await run(p, 'STATUS', pluginStdin(list, p, {}), ctx);
  }
}

/**
 * GC every plugin that supports it (runs at 1.1.0), past failures (G3), with the valid set under
 * both the spec's key and the 1.1.0 tag's key (G1, J4). Nothing with disableGC (G6).
 */
export async function gcNetworkList(list: NetworkConfigList, ctx: DelegateContext, valid: Attachment[]): Promise<void> {
  if (list.disableGC) return;
  validateNetworkName(list.name, `delegate network ${ctx.label}`);
  const attachments = valid.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
  const extra = { 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments };
  const errors: CniError[] = [];
  for (const conf of list.plugins) {
    try {
      const p = await resolvePlugin(list, conf, ctx);
      if (!versionAtLeast(p.version, '1.1.0')) continue;
      await run(p, 'GC', pluginStdin(list, p, { extra }), ctx);
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  if (errors.length > 0) throw firstOf(errors);
}
