import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runCommand } from '../helpers/exec.ts';
import type { PluginRun } from '../helpers/run-plugin.ts';
import { startAgentProcess, type AgentProcess } from '../integration/agent-testbed.ts';
import type { Check } from './checks.ts';
import { hex, type ProbeBed } from './probe-bed.ts';

// The same hostility through braid-agent (thick mode): the agent beside the probed braid, in the
// node's namespace, on a socket under the probe's temp dir.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ok(r: PluginRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stdout.trim()} ${r.stderr.trim().slice(0, 300)}`);
}

async function withAgent(
  bed: ProbeBed,
  fn: (agent: AgentProcess, conf: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  const socketPath = join(bed.root, `agent-${hex()}`, 'agent.sock');
  mkdirSync(dirname(socketPath), { mode: 0o700 });
  const agent = await startAgentProcess(bed.agent, { node: bed.node, socketPath, cacheDir: bed.cniDir });
  try {
    await fn(agent, bed.conf({ agentSocket: socketPath }));
  } finally {
    await agent.stop();
  }
}

export const AGENT_CHECKS: Check[] = [
  {
    name: "agent: a burst of 8 pods through braid-agent, the node's netns refused there, nobody cannot reach its socket",
    async run(bed) {
      await withAgent(bed, async (agent, conf) => {
        const calls = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const pod = await bed.newPod();
            return { containerId: `ctr-${hex(6)}`, pod: pod.ns, podName: pod.name, conf };
          }),
        );
        (await Promise.all(calls.map((c) => bed.run('ADD', c)))).forEach((r, i) => ok(r, `ADD ${i}`));
        (await Promise.all(calls.map((c) => bed.run('DEL', c)))).forEach((r, i) => ok(r, `DEL ${i}`));
        const served = await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}');
        if (served !== 8) throw new Error(`the agent answered ${served ?? 0} of 8 ADDs`);
        const refused = await bed.run('ADD', { containerId: `ctr-${hex()}`, pod: bed.node.path, conf });
        if (refused.json?.code !== 4) throw new Error(`ADD in the node's netns through the agent: ${refused.stdout}`);
        if ((await agent.metric('braid_agent_requests_total{verb="ADD",code="4"}')) !== 1)
          throw new Error('the agent did not answer the refused ADD itself');
        const connect = `require('net').connect(${JSON.stringify(agent.socketPath)}).on('connect', () => process.exit(0)).on('error', () => process.exit(1))`;
        const r = await runCommand([
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--',
          process.execPath,
          '-e',
          connect,
        ]);
        if (r.code === 0) throw new Error(`nobody can connect to ${agent.socketPath}`);
      });
      const leaks = await bed.leaks();
      if (leaks.length > 0) throw new Error(`leaked: ${leaks.join('; ')}`);
    },
  },
  {
    name: 'agent: braid-agent SIGKILLed while its slow delegate runs; braid finishes thin, DEL at once, nothing appears later',
    async run(bed) {
      const started = join(bed.root, `slow-${hex()}.started`);
      const created = `${started}.created`;
      writeFileSync(
        join(bed.pluginDir, 'slow-agent'),
        `#!/bin/sh\ncat >/dev/null\ncase "$CNI_COMMAND" in\nVERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;\n` +
          `ADD) [ -e ${started} ] && { echo '{"cniVersion":"1.0.0","interfaces":[],"ips":[]}'; exit 0; }\n  echo $PPID > ${started}; sleep 1; touch ${created}\n  echo '{"cniVersion":"1.0.0","interfaces":[],"ips":[]}';;\nesac\n`,
        { mode: 0o755 },
      );
      await withAgent(bed, async (agent, agentConf) => {
        const conf = {
          ...agentConf,
          clusterNetwork: undefined,
          delegates: [{ cniVersion: '1.0.0', name: 'slow', type: 'slow-agent' }],
        };
        const pod = await bed.newPod();
        const c = { containerId: `ctr-${hex(6)}`, pod: pod.ns, podName: pod.name, conf };
        const add = bed.run('ADD', c);
        for (let t = 0; !existsSync(started) && t < 500; t++) await sleep(20);
        if (Number(readFileSync(started, 'utf8')) !== agent.pid)
          throw new Error('the slow delegate did not run in the agent');
        agent.signal('SIGKILL');
        await add;
        ok(await bed.run('DEL', c), 'DEL');
        await sleep(2_000);
        if (existsSync(created)) throw new Error("the dead agent's delegate finished its ADD after DEL");
      });
      const leaks = await bed.leaks();
      if (leaks.length > 0) throw new Error(`leaked: ${leaks.join('; ')}`);
    },
  },
];
