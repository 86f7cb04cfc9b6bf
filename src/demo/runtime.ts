import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { run } from './exec.ts';
import type { DemoNetns } from './netns.ts';

/**
 * braid called the way a container runtime calls its CNI plugin: CNI_* in the environment, the
 * network configuration on stdin, one process per verb. It runs inside the node namespace, which
 * plays the host: the delegates build their host-side parts (bridge, veth ends) there.
 */

export interface Sandbox {
  namespace: string;
  name: string;
  /** The pod sandbox's container ID, as a runtime makes it: 64 hex digits. */
  containerId: string;
  netns: DemoNetns;
}

export interface RuntimeSetup {
  braidBin: string;
  confFile: string;
  cniBin: string;
  node: DemoNetns;
}

export interface CniCall {
  ok: boolean;
  ms: number;
  /** The parsed stdout: a result after ADD, an error object after a failure. */
  output?: Record<string, unknown>;
  stderr: string;
  /** The command line, for showing it. */
  env: Record<string, string>;
  argv: string[];
}

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export function cniEnv(verb: 'ADD' | 'DEL', sandbox: Sandbox, setup: RuntimeSetup): Record<string, string> {
  const args = [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${sandbox.namespace}`,
    `K8S_POD_NAME=${sandbox.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${sandbox.containerId}`,
  ];
  return {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: sandbox.containerId,
    CNI_NETNS: sandbox.netns.path,
    CNI_IFNAME: 'eth0',
    CNI_PATH: setup.cniBin,
    CNI_ARGS: args.join(';'),
  };
}

function parseOutput(stdout: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(stdout);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export async function callBraid(verb: 'ADD' | 'DEL', sandbox: Sandbox, setup: RuntimeSetup): Promise<CniCall> {
  const env = cniEnv(verb, sandbox, setup);
  const argv = setup.node.nsenter([setup.braidBin]);
  const r = await run(argv, {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    input: readFileSync(setup.confFile, 'utf8'),
    timeoutMs: 60_000,
  });
  const call: CniCall = { ok: r.code === 0, ms: r.ms, stderr: r.stderr, env, argv };
  const output = parseOutput(r.stdout);
  if (output) call.output = output;
  else if (r.stdout.trim() !== '') call.stderr = `${r.stdout.trim()}\n${r.stderr}`;
  if (r.timedOut) call.stderr = `killed after 60 s\n${r.stderr}`;
  return call;
}

/** "eth0 10.244.0.2/24 gw 10.244.0.1" from a CNI result, for one-line summaries. */
export function describeResult(result: Record<string, unknown> | undefined): string {
  const interfaces = (result?.interfaces ?? []) as { name?: string; sandbox?: string }[];
  const ips = (result?.ips ?? []) as { address?: string; gateway?: string; interface?: number }[];
  return ips
    .map((ip) => {
      const iface = ip.interface !== undefined ? interfaces[ip.interface]?.name : undefined;
      return [iface, ip.address, ip.gateway ? `gw ${ip.gateway}` : ''].filter(Boolean).join(' ');
    })
    .join(', ');
}

/** "code 7: msg (details)" from a CNI error object. */
export function describeError(call: CniCall): string {
  const out = call.output;
  if (out && 'code' in out) {
    return `code ${String(out.code)}: ${String(out.msg)}${out.details ? ` (${String(out.details)})` : ''}`;
  }
  return call.stderr.trim() || 'no output';
}
