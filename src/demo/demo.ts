import { randomBytes } from 'node:crypto';
import { CniCode, CniError } from '../base/errors.ts';
import { addPods, inspectPods, showPlan, showStatus } from './attach.ts';
import { Cleanup, onTermination } from './cleanup.ts';
import { sendTraffic } from './connectivity.ts';
import type { DemoBase, DemoContext } from './context.ts';
import { checkNothingLeft, deletePods } from './detach.ts';
import { block, muteSteps, type Printer, say, sayAlways, seconds, Steps, style } from './print.ts';
import { showPolicy } from './policy.ts';
import { PODS } from './scenario.ts';
import { setUpNode, showConfiguration } from './setup.ts';
import { braidBinary, findCheckout } from './workspace.ts';

/**
 * `braid demo`: a node and two pods as network namespaces, braid called as a container runtime
 * calls it, then a look at what it built, traffic over every network, DEL, and proof that nothing
 * is left. Everything lives in namespaces and a temp dir named braid-demo-<random>, removed at the
 * end, on failure and on Ctrl-C, unless --keep.
 */

const STEPS_FULL = 10;
/** With --keep the pods stay attached: no DEL and no leftover check. */
const STEPS_KEPT = 8;

function preflight(): void {
  if (process.getuid?.() !== 0) {
    throw new CniError(
      CniCode.InvalidEnv,
      'the demo creates network namespaces and interfaces: run it as root (sudo npm run demo)',
    );
  }
}

function printKept(cleanup: Cleanup, prefix: string, ctx: DemoContext | undefined, print: Printer): void {
  print();
  print(style.bold('==> Kept (--keep): the pods are still attached. Have a look:'));
  if (ctx) {
    const beta = ctx.pods[ctx.pods.length - 1]!;
    block(
      [
        `ip netns exec ${beta.sandbox.netns.name} ip addr`,
        `${ctx.braidBin} status --cache-dir ${ctx.ws.cacheDir}`,
        `${ctx.braidBin} policy show -c ${ctx.ws.confFile}`,
        `cat ${ctx.ws.podDir}/${beta.pod.namespace}/${beta.pod.name}.yaml`,
      ].join('\n'),
      4,
      undefined,
      print,
    );
  } else {
    print(`    ip netns list | grep ${prefix}`);
  }
  print(style.bold('    remove everything with:'));
  block([...cleanup.labels()].reverse().join('; '), 6, undefined, print);
}

async function cleanUp(cleanup: Cleanup, print: Printer): Promise<string[]> {
  const errors = await cleanup.runAll();
  print();
  if (errors.length === 0) print(style.dim(`    clean-up: ${[...cleanup.labels()].reverse().join('; ')}`));
  for (const e of errors) print(style.red(`    clean-up failed: ${e}`));
  return errors;
}

async function scenario(base: DemoBase, hold: (ctx: DemoContext) => void): Promise<DemoContext> {
  const ctx = await setUpNode(base);
  hold(ctx);
  await showConfiguration(ctx);
  await addPods(ctx);
  await inspectPods(ctx);
  await showStatus(ctx);
  await sendTraffic(ctx);
  await showPolicy(ctx);
  await showPlan(ctx);
  if (!base.keep) {
    await deletePods(ctx);
    await checkNothingLeft(ctx);
  }
  return ctx;
}

function summary(ctx: DemoContext, ms: number, keep: boolean): string {
  const { interfaces, trafficPassed, trafficTotal, policyPassed, policyTotal } = ctx.tally;
  const parts = [`${ctx.pods.length} pods`, `${interfaces} pod interfaces`];
  if (trafficTotal > 0) parts.push(`${trafficPassed}/${trafficTotal} traffic checks passed`);
  if (policyTotal > 0) parts.push(`${policyPassed}/${policyTotal} policy checks passed`);
  if (keep) parts.push('pods kept');
  else if (ctx.tally.leftoversChecked) {
    parts.push(ctx.problems.some((p) => p.startsWith('left behind')) ? 'something left behind' : 'nothing left behind');
  }
  return `${parts.join(', ')} (${seconds(ms)})`;
}

export async function runDemo({ keep }: { keep: boolean }): Promise<void> {
  preflight();
  const started = performance.now();
  const prefix = `braid-demo-${randomBytes(4).toString('hex')}`;
  const checkout = findCheckout();
  const base: DemoBase = {
    keep,
    steps: new Steps(keep ? STEPS_KEPT : STEPS_FULL),
    cleanup: new Cleanup(),
    prefix,
    checkout,
    braidBin: braidBinary(checkout),
  };
  let ctx: DemoContext | undefined;

  say(
    style.bold(
      `braid demo: pods ${PODS.map((p) => p.name).join(' and ')} on a node, a bridge cluster network, macvlan and host-device secondaries, a MultiNetworkPolicy`,
    ),
  );
  let interruption: Promise<void> | undefined;
  const removeHandlers = onTermination((signal) => {
    muteSteps();
    interruption = (async () => {
      sayAlways();
      sayAlways(style.red(`${signal}: stopping the demo`));
      if (keep) printKept(base.cleanup, prefix, ctx, sayAlways);
      else await cleanUp(base.cleanup, sayAlways);
    })();
    return interruption;
  });

  let failure: unknown;
  try {
    ctx = await scenario(base, (c) => (ctx = c));
  } catch (e) {
    failure = e;
  }
  if (interruption !== undefined) {
    // The signal handler ends the process once its clean-up is done; nothing more to report here.
    await interruption;
    await new Promise<never>(() => {});
  }
  removeHandlers();
  const cleanupErrors = keep ? [] : await cleanUp(base.cleanup, say);
  if (keep) printKept(base.cleanup, prefix, ctx, say);

  const problems = [...(ctx?.problems ?? []), ...cleanupErrors.map((e) => `clean-up: ${e}`)];
  const ms = performance.now() - started;
  say();
  if (failure === undefined && problems.length === 0 && ctx) {
    say(style.bold(style.green(`demo passed: ${summary(ctx, ms, keep)}`)));
    return;
  }
  const reasons = [...(failure !== undefined ? [(failure as Error).message] : []), ...problems];
  say(style.bold(style.red(`demo FAILED${ctx ? `: ${summary(ctx, ms, keep)}` : ''}`)));
  block(reasons.map((r) => `- ${r}`).join('\n'), 4, style.red);
  throw new CniError(
    CniCode.Internal,
    `demo failed: ${reasons[0]}${reasons.length > 1 ? ` (and ${reasons.length - 1} more)` : ''}`,
  );
}
