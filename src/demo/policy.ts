import { braidTool } from './attach.ts';
import { resolve } from './connectivity.ts';
import { type DemoContext, shown } from './context.ts';
import { say, style, verdict } from './print.ts';
import { POLICY, POLICY_CHECKS, type PolicyCheck } from './scenario.ts';
import { echoFrom, startEchoServer } from './traffic.ts';

/**
 * MultiNetworkPolicy in the demo: the manifests of examples/demo/policies go into braid's local
 * policy store before any ADD (ADD compiles them for each interface it attaches), then an allowed
 * and a dropped flow over macvlan-lan, and braid's own view with the counters.
 */

/** A dropped SYN gets no answer; waiting this long for one keeps the demo quick. */
const DROP_WAIT_MS = 1_500;

/** Part of step 2: `braid policy apply` with the demo's conf (policyDir, bpfRoot, podDir, cniDir). */
export async function applyPolicies(ctx: DemoContext): Promise<void> {
  say();
  say(
    `    ${style.bold('MultiNetworkPolicy')}  ${style.dim('(stored before the ADDs: each ADD attaches the policy programs to the pod interface it makes)')}`,
  );
  await braidTool(ctx, ['policy', 'apply', '-f', ctx.ws.policiesDir, '-c', ctx.ws.confFile], 'braid policy apply');
}

async function attempt(ctx: DemoContext, check: PolicyCheck): Promise<{ ok: boolean; text: string }> {
  const [from, to] = await Promise.all([resolve(ctx, check.from), resolve(ctx, check.to)]);
  const what = `${check.network.padEnd(12)} ${from.label} -> ${to.label} ${to.address}:${check.port}`;
  const server = await startEchoServer(to.ns, to.address, check.port);
  try {
    const timeout = check.allowed ? 3_000 : DROP_WAIT_MS;
    const outcome = await echoFrom(from.ns, from.address, to.address, check.port, `to port ${check.port}`, timeout);
    const seen = outcome.ok ? `echoed in ${outcome.ms!.toFixed(1)} ms` : `no echo (${outcome.error})`;
    return {
      ok: outcome.ok === check.allowed,
      text: `${what}  ${check.allowed ? 'allowed' : 'dropped'}: ${style.dim(seen)}`,
    };
  } finally {
    server.stop();
  }
}

/** Step 7: the policy at work, then `braid policy show`. */
export async function showPolicy(ctx: DemoContext): Promise<void> {
  ctx.steps.next(
    `MultiNetworkPolicy ${POLICY.name}: beta's macvlan ingress only on TCP ${POLICY.allowedPort}, from app=client`,
  );
  const outcomes = await Promise.all(
    POLICY_CHECKS.map((c) =>
      attempt(ctx, c).catch((e: unknown) => ({
        ok: false,
        text: `${c.network} port ${c.port}: ${(e as Error).message}`,
      })),
    ),
  );
  for (const o of outcomes) {
    ctx.tally.policyTotal += 1;
    if (o.ok) ctx.tally.policyPassed += 1;
    else ctx.problems.push(`policy check did not go as the policy says: ${o.text}`);
    verdict(o.ok, o.text);
  }
  say();
  say(style.dim(`    pins under ${shown(ctx.ws.bpfRoot)}; counters per interface and direction:`));
  await braidTool(ctx, ['policy', 'show', '-c', ctx.ws.confFile], 'braid policy show');
}
