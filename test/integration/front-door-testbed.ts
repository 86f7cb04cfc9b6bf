import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AgentMetrics } from '../../src/agent/agent-metrics.ts';
import { ConcurrencyLimiter } from '../../src/agent/limiter.ts';
import { AgentServer } from '../../src/agent/server.ts';
import { CniCode, CniError } from '../../src/base/errors.ts';
import type { CniRequest } from '../../src/cni/request.ts';
import type { PluginHandlers } from '../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../src/cni/versions.ts';
import { makeTempDir } from '../helpers/tmp.ts';

/**
 * What the front-door suites share: running a program as a runtime runs a plugin, and an agent
 * server in the test's own process with stub verbs. Thin mode is recognised by its own answer:
 * the confs here have no clusterNetwork, which thin mode refuses (code 7) while the stub agent
 * answers success.
 */
export interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a program as a runtime would run the plugin: env and stdin, nothing else. Never spawnSync
 * here: the agent under test answers from this process's event loop.
 */
export function runProgram(argv: string[], env: Record<string, string>, stdin: string | Buffer): Promise<Run> {
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(stdin);
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err })),
  );
}

export const cniEnv = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/braid-t-none',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  ...extra,
});
export const confFor = (agentSocket: string) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket });
/** What thin mode answers for the confs here (the stub agent answers success). */
export const THIN_ANSWER = /"code":7,"msg":"braid conf: set .*clusterNetwork/;

export function stubs(seen: CniRequest[]): PluginHandlers {
  return {
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    async add(req) {
      seen.push(req);
      if (req.containerId === 'bad')
        throw new CniError(CniCode.InvalidConfig, 'NetworkAttachmentDefinition ns/x "quoted" ✓ not found');
      return { cniVersion: '1.0.0', interfaces: [{ name: req.ifname, sandbox: 'ünïcode' }], ips: [] };
    },
    async del(req) {
      seen.push(req);
    },
    async check() {},
    async status() {},
    async gc() {},
  };
}

/** A stub agent on a socket in a fresh temp dir; `closers` gets what stops it. */
export async function startStubAgent(closers: (() => Promise<void> | void)[], seen: CniRequest[] = []) {
  const dir = makeTempDir('braid-t-front');
  const socketPath = join(dir, 'run', 'braid.sock');
  const metrics = new AgentMetrics();
  const server = new AgentServer({
    socketPath,
    handlers: stubs(seen),
    limiter: new ConcurrencyLimiter(4),
    metrics,
    health: { live: () => true, notReady: () => undefined },
  });
  await server.listen();
  closers.push(() => server.close());
  const conf = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid', agentSocket: socketPath, ...extra });
  return { dir, socketPath, server, conf, seen, metrics };
}
