/**
 * `braid-agent`: the node agent (a DaemonSet pod per node). Serves the `braid` plugin over a unix
 * socket, keeps NADs, pods, namespaces and MultiNetworkPolicies in memory from watches, keeps the
 * policy maps in sync and exposes health and Prometheus metrics. See src/agent/options.ts.
 */
import { AGENT_USAGE, parseAgentOptions } from '../src/agent/options.ts';

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} braid-agent: ${line}\n`);

async function main(): Promise<number> {
  let options;
  try {
    options = parseAgentOptions(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`braid-agent: ${(e as Error).message}\n${AGENT_USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  // Loaded only now: --help and a bad flag need none of the agent (nor the datapath files it unpacks).
  const { startAgent } = await import('../src/agent/agent.ts');
  const agent = await startAgent(options, { log, env: process.env });
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log(`${signal}: stopping (running calls get ${options.shutdownGraceMs / 1000} s)`);
      resolve();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  await agent.stop();
  return 0;
}

// No top-level await: the single-executable build bundles this file as CommonJS.
void main()
  .catch((e: unknown) => {
    log(`cannot start: ${(e as Error).message}`);
    return 1;
  })
  .then((code) => {
    process.exitCode = code;
    // Keep-alive sockets and timers of finished work must not hold the process after shutdown.
    setTimeout(() => process.exit(), 100).unref();
  });
