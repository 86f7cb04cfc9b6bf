import path from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { PodStore } from '../k8s/pod-store.ts';
import { ANNOTATION_NETWORK_STATUS, ANNOTATION_NETWORKS } from '../k8s/types.ts';
import { type DemoContext, findPod, podKey, shown } from './context.ts';
import { run } from './exec.ts';
import { networkStatusOf, podInterfaces, podRoutes } from './inspect.ts';
import { block, compactJson, say, seconds, shellWords, style, table, verdict } from './print.ts';
import { callBraid, cniEnv, describeError, describeResult } from './runtime.ts';
import { VALIDATED_POD } from './scenario.ts';

/** The ADD command line of one pod, as a person would type it (the container ID in $CID). */
function addCommand(ctx: DemoContext): string[] {
  const first = ctx.pods[0]!.sandbox;
  const env = cniEnv('ADD', first, ctx.runtime);
  const cid = first.containerId;
  const lines = [`CID=${cid}`];
  lines.push(
    ...Object.entries(env).map(([k, v]) => {
      const value = v.replaceAll(cid, '$CID');
      return `${k}=${value.includes('$CID') ? `"${value}"` : shellWords([value])} \\`;
    }),
  );
  lines.push(`${shellWords(ctx.node.nsenter([shown(ctx.braidBin)]))} < ${ctx.ws.confFile}`);
  return lines;
}

/** Step 3: braid ADD for every pod; a failed ADD ends the demo (nothing after it makes sense). */
export async function addPods(ctx: DemoContext): Promise<void> {
  ctx.steps.next('CNI ADD for each pod, the way the container runtime calls braid');
  say(style.dim(`    ${addCommand(ctx)[0]}`));
  block(addCommand(ctx).slice(1).join('\n'), 4, style.dim);
  say();
  for (const { pod, sandbox } of ctx.pods) {
    const call = await callBraid('ADD', sandbox, ctx.runtime);
    if (!call.ok) {
      verdict(false, `${podKey(pod).padEnd(14)} ADD failed after ${seconds(call.ms)}: ${describeError(call)}`);
      if (call.stderr.trim()) block(call.stderr, 10, style.dim);
      throw new CniError(CniCode.Internal, `braid ADD for pod ${podKey(pod)} failed: ${describeError(call)}`);
    }
    verdict(
      true,
      `${podKey(pod).padEnd(14)} ${seconds(call.ms)}  result for the runtime: ${describeResult(call.output)}`,
    );
    if (call.stderr.trim()) block(call.stderr, 10, style.dim);
  }
}

/** Step 4: each pod's interfaces and routes as the kernel has them, and its network-status. */
export async function inspectPods(ctx: DemoContext): Promise<void> {
  ctx.steps.next('Inside the pods (ip -j -n <netns> addr / route) and their network-status');
  for (const { pod, sandbox } of ctx.pods) {
    const rows = await podInterfaces(sandbox.netns);
    const missing = pod.interfaces.filter((ifname) => !rows.some((r) => r.ifname === ifname && r.addresses.length > 0));
    ctx.tally.interfaces += rows.length;
    say();
    say(`    ${style.bold(podKey(pod))}  ${style.dim(sandbox.netns.name)}`);
    table(
      ['IFACE', 'KIND', 'STATE', 'MAC', 'ADDRESSES'],
      rows.map((r) => [r.ifname, r.kind, r.state, r.mac, r.addresses.join(', ') || '-']),
      6,
    );
    say(`      ${style.dim('routes:')} ${(await podRoutes(sandbox.netns)).join(style.dim(' | '))}`);
    if (missing.length > 0) {
      ctx.problems.push(`pod ${podKey(pod)} has no ${missing.join(', ')} with an address after ADD`);
      verdict(false, `expected ${pod.interfaces.join(', ')}; missing ${missing.join(', ')}`, 6);
    } else {
      verdict(
        true,
        `${pod.interfaces.join(', ')}: cluster network and ${pod.interfaces.length - 1} secondary network(s)`,
        6,
      );
    }
    const status = await networkStatusOf(ctx.ws.podDir, pod.namespace, pod.name);
    if (status.raw === undefined) {
      ctx.problems.push(`pod ${podKey(pod)} has no ${ANNOTATION_NETWORK_STATUS} annotation after ADD`);
      verdict(
        false,
        `no ${ANNOTATION_NETWORK_STATUS} in ${shown(path.join(ctx.ws.podDir, pod.namespace, `${pod.name}.yaml`))}`,
        6,
      );
      continue;
    }
    say(`      ${style.dim(`${ANNOTATION_NETWORK_STATUS} (written by braid to the pod store's status file):`)}`);
    status.entries.forEach((entry, i) => {
      const open = i === 0 ? '[' : ' ';
      const close = i === status.entries.length - 1 ? ']' : ',';
      say(`        ${open}${JSON.stringify(entry)}${close}`);
    });
  }
}

/** Runs a braid subcommand (the same binary), shows it and its output; a failure is a problem. */
export async function braidTool(ctx: DemoContext, args: string[], what: string): Promise<void> {
  say(style.dim(`    $ ${shellWords([shown(ctx.braidBin), ...args])}`));
  const r = await run([ctx.braidBin, ...args], { timeoutMs: 30_000 });
  block(r.stdout || '(no output)', 4);
  if (r.code !== 0) {
    ctx.problems.push(`${what} exited with ${r.code}: ${r.stderr.trim()}`);
    block(r.stderr, 4, style.red);
  }
}

/** Step 5: braid's own view of the node, from its cache. */
export async function showStatus(ctx: DemoContext): Promise<void> {
  ctx.steps.next("braid status: the attachments in braid's cache");
  await braidTool(ctx, ['status', '--cache-dir', ctx.ws.cacheDir], 'braid status');
}

/** Step 8: the plan braid builds from one pod's annotation, without touching a kernel. */
export async function showPlan(ctx: DemoContext): Promise<void> {
  const { pod } = findPod(ctx, VALIDATED_POD);
  ctx.steps.next(`braid validate: the plan for ${podKey(pod)}'s annotation, no kernel involved`);
  const stored = await new PodStore(ctx.ws.podDir).getPod(pod.namespace, pod.name);
  const annotation = compactJson(stored?.annotations[ANNOTATION_NETWORKS] ?? '');
  await braidTool(ctx, ['validate', '-c', ctx.ws.confFile, '-p', podKey(pod), '-a', annotation], 'braid validate');
}
