import { type DemoContext, findPod } from './context.ts';
import type { DemoNetns } from './netns.ts';
import { say, style, verdict } from './print.ts';
import { TRAFFIC, type Endpoint, type TrafficCheck } from './scenario.ts';
import { echoFrom, startEchoServer } from './traffic.ts';

interface ResolvedEndpoint {
  label: string;
  ns: DemoNetns;
  address: string;
}

async function resolve(ctx: DemoContext, end: Endpoint): Promise<ResolvedEndpoint> {
  const ns = end.pod === 'node' ? ctx.node : findPod(ctx, end.pod).sandbox.netns;
  const ip = await ns.ipv4Of(end.ifname);
  if (!ip) throw new Error(`${end.pod} has no IPv4 address on ${end.ifname}`);
  return { label: `${end.pod} ${end.ifname}`, ns, address: ip.address };
}

/** One check: echo server at `to`, client bound to `from`'s address; the route the kernel takes is shown. */
async function check(ctx: DemoContext, t: TrafficCheck): Promise<void> {
  const what = `${t.network}:`;
  let from: ResolvedEndpoint;
  let to: ResolvedEndpoint;
  try {
    [from, to] = [await resolve(ctx, t.from), await resolve(ctx, t.to)];
  } catch (e) {
    ctx.problems.push(`traffic over ${t.network}: ${(e as Error).message}`);
    verdict(false, `${what} ${(e as Error).message}`);
    return;
  }
  const path = `${from.label} ${from.address} -> ${to.label} ${to.address}`;
  const server = await startEchoServer(to.ns, to.address);
  try {
    const device = await from.ns.routeDevice(to.address);
    const payload = `hello from ${from.label} over ${t.network}`;
    const outcome = await echoFrom(from.ns, from.address, to.address, server.port, payload);
    if (outcome.ok) {
      ctx.tally.trafficPassed += 1;
      verdict(true, `${what.padEnd(24)} ${path}:${server.port}  ${style.dim(`out of ${device}, ${payload.length} bytes echoed in ${outcome.ms!.toFixed(1)} ms`)}`);
    } else {
      ctx.problems.push(`traffic over ${t.network} (${path}) did not pass: ${outcome.error}`);
      verdict(false, `${what.padEnd(24)} ${path}:${server.port}  ${outcome.error}`);
    }
  } finally {
    server.stop();
  }
}

/** Step 6: TCP echo over each network, between the pods and to the node's storage peer. */
export async function sendTraffic(ctx: DemoContext): Promise<void> {
  ctx.steps.next('Traffic: a TCP echo over each network');
  say(style.dim('    server and client are small Node programs run in the namespaces with nsenter'));
  for (const t of TRAFFIC) {
    ctx.tally.trafficTotal += 1;
    await check(ctx, t);
  }
}
