import { type DemoContext, findPod } from './context.ts';
import type { DemoNetns } from './netns.ts';
import { say, style, verdict } from './print.ts';
import { TRAFFIC, type Endpoint, type TrafficCheck } from './scenario.ts';
import { echoFrom, startEchoServer } from './traffic.ts';

export interface ResolvedEndpoint {
  label: string;
  ns: DemoNetns;
  address: string;
}

interface CheckOutcome {
  check: TrafficCheck;
  /** "alpha net1 10.10.50.10 -> beta lan0 10.10.50.50", once both ends are known. */
  path?: string;
  ok: boolean;
  detail: string;
}

export async function resolve(ctx: DemoContext, end: Endpoint): Promise<ResolvedEndpoint> {
  const ns = end.pod === 'node' ? ctx.node : findPod(ctx, end.pod).sandbox.netns;
  const ip = await ns.ipv4Of(end.ifname);
  if (!ip) throw new Error(`${end.pod} has no IPv4 address on ${end.ifname}`);
  return { label: `${end.pod} ${end.ifname}`, ns, address: ip.address };
}

/** Echo server at `to`, client bound to `from`'s address; also which device the kernel routes it out of. */
async function measure(ctx: DemoContext, check: TrafficCheck): Promise<CheckOutcome> {
  let from: ResolvedEndpoint;
  let to: ResolvedEndpoint;
  try {
    [from, to] = await Promise.all([resolve(ctx, check.from), resolve(ctx, check.to)]);
  } catch (e) {
    return { check, ok: false, detail: (e as Error).message };
  }
  const path = `${from.label} ${from.address} -> ${to.label} ${to.address}`;
  try {
    const server = await startEchoServer(to.ns, to.address, check.port);
    try {
      const device = await from.ns.routeDevice(to.address);
      const payload = `hello from ${from.label} over ${check.network}`;
      const outcome = await echoFrom(from.ns, from.address, to.address, server.port, payload);
      if (!outcome.ok) return { check, path, ok: false, detail: `port ${server.port}: ${outcome.error}` };
      return {
        check,
        path,
        ok: true,
        detail: `via ${device}, ${payload.length} bytes echoed in ${outcome.ms!.toFixed(1)} ms`,
      };
    } finally {
      server.stop();
    }
  } catch (e) {
    return { check, path, ok: false, detail: (e as Error).message };
  }
}

/** Step 6: TCP echo over each network, between the pods and to the node's storage peer. */
export async function sendTraffic(ctx: DemoContext): Promise<void> {
  ctx.steps.next('Traffic: a TCP echo over each network');
  say(style.dim('    server and client are small Node programs, run in the namespaces with nsenter'));
  // The checks use different ports and sockets, so they run at once; results print in order.
  const outcomes = await Promise.all(TRAFFIC.map((t) => measure(ctx, t)));
  for (const o of outcomes) {
    ctx.tally.trafficTotal += 1;
    const what = `${o.check.network.padEnd(12)} ${o.path ?? ''}`;
    if (o.ok) {
      ctx.tally.trafficPassed += 1;
      verdict(true, `${what}  ${style.dim(`(${o.detail})`)}`);
    } else {
      ctx.problems.push(`traffic over ${o.check.network}${o.path ? ` (${o.path})` : ''} did not pass: ${o.detail}`);
      verdict(false, `${what}  ${o.detail}`);
    }
  }
}
