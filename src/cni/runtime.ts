import { CniCode, CniError, asCniError } from '../base/errors.ts';
import type { DelegateContext } from './list-context.ts';
import type { Attachment, NetworkConfigList } from './netconf.ts';
import {
  delegateResult,
  pluginStdin,
  resolveAll,
  resolvePlugin,
  runDelegate,
  runtimeConfigFor,
  type ResolvedPlugin,
} from './plugin-invocation.ts';
import type { CniResult } from './result.ts';
import { validateContainerId, validateIfname, validateNetworkName } from './validate.ts';
import { versionAtLeast } from './versions.ts';

/**
 * braid as the CNI runtime of one delegate network (a conflist), like libcni's
 * {Add,Del,Check,GetStatus,GC}NetworkList but with a CNI version negotiated per delegate:
 * each plugin runs at the newest version it shares with the list, and results and prevResults
 * are converted at every hop (L7).
 */

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
    prev = delegateResult(await runDelegate(p, 'ADD', stdin, ctx), p);
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
      await runDelegate(
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
    await runDelegate(
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
    await runDelegate(p, 'STATUS', pluginStdin(list, p, {}), ctx);
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
      await runDelegate(p, 'GC', pluginStdin(list, p, { extra }), ctx);
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  if (errors.length > 0) throw firstOf(errors);
}
