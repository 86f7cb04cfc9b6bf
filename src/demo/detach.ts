import path from 'node:path';
import { ifacesDir } from '../policy/enforced.ts';
import { LINK_PINS, pinsUnder } from './bpffs.ts';
import { type DemoContext, podKey } from './context.ts';
import { cacheRecords, hostLocalReservations, podInterfaces } from './inspect.ts';
import type { IpLink } from './netns.ts';
import { block, say, seconds, style, verdict } from './print.ts';
import { callBraid, describeError } from './runtime.ts';
import { NODE } from './scenario.ts';
import { plainFiles } from './workspace.ts';

/** Step 9: braid DEL for every pod, the last one added first. A failure is a problem, not the end. */
export async function deletePods(ctx: DemoContext): Promise<void> {
  ctx.steps.next('CNI DEL for each pod, in reverse order');
  for (const { pod, sandbox } of [...ctx.pods].reverse()) {
    const call = await callBraid('DEL', sandbox, ctx.runtime);
    if (call.ok) {
      verdict(true, `${podKey(pod).padEnd(14)} ${seconds(call.ms)}`);
    } else {
      ctx.problems.push(`braid DEL for pod ${podKey(pod)} failed: ${describeError(call)}`);
      verdict(false, `${podKey(pod).padEnd(14)} DEL failed after ${seconds(call.ms)}: ${describeError(call)}`);
    }
    if (call.stderr.trim()) block(call.stderr, 10, style.dim);
  }
}

function expectNone(ctx: DemoContext, what: string, found: string[], where: string): void {
  const ok = found.length === 0;
  if (!ok) ctx.problems.push(`left behind after DEL: ${what} (${found.join(', ')})`);
  verdict(ok, ok ? `${what}: none ${style.dim(where)}` : `${what}: ${found.join(', ')} ${style.dim(where)}`);
}

/** Step 10: after DEL nothing of the pods' networking may remain, in the kernel or in files. */
export async function checkNothingLeft(ctx: DemoContext): Promise<void> {
  ctx.steps.next('Nothing left behind');
  for (const { pod, sandbox } of ctx.pods) {
    const left = (await podInterfaces(sandbox.netns)).map((r) => r.ifname);
    expectNone(ctx, `interfaces in pod ${podKey(pod)} besides lo`, left, `(${sandbox.netns.name})`);
  }
  const ports = await ctx.node.ipJson<IpLink[]>(['link', 'show', 'master', NODE.bridge]);
  expectNone(
    ctx,
    `pod veths on the node's bridge ${NODE.bridge}`,
    ports.map((l) => l.ifname),
    '(the bridge itself stays, as on a real node)',
  );
  const back = (await ctx.node.links()).some((l) => l.ifname === NODE.storageNic);
  if (!back) ctx.problems.push(`${NODE.storageNic} did not come back to the node after DEL (host-device)`);
  verdict(back, `${NODE.storageNic} is back on the node ${style.dim('(host-device DEL returns the device)')}`);
  expectNone(ctx, 'host-local address reservations', hostLocalReservations(ctx.ws.ipamDir), `(${ctx.ws.ipamDir})`);
  expectNone(ctx, 'braid cache records', cacheRecords(ctx.ws.cacheDir), `(${ctx.ws.cacheDir})`);
  const pins = pinsUnder(ctx.ws.bpfRoot);
  expectNone(
    ctx,
    'pinned policy links (tcx)',
    pins.filter((p) => p.startsWith(LINK_PINS)),
    `(${path.join(ctx.ws.bpfRoot, LINK_PINS)})`,
  );
  const stateDir = path.join(ctx.ws.cacheDir, 'policy');
  expectNone(ctx, 'interfaces in the policy registry', plainFiles(ifacesDir(stateDir)), `(${ifacesDir(stateDir)})`);
  const shared = pins.filter((p) => !p.startsWith(LINK_PINS));
  say(
    style.dim(
      `          the node's ${shared.length} shared policy maps and programs stay for the next ADD; clean-up removes ${ctx.ws.bpfRoot}`,
    ),
  );
  ctx.tally.leftoversChecked = true;
}
