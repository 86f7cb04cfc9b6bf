/**
 * `braid`: with CNI_COMMAND set it is the CNI plugin a container runtime calls; with arguments and
 * no CNI_COMMAND it is the command-line tool. As a plugin it first offers the call to braid-agent
 * (thick mode) and does the work itself only when no agent takes it (thin mode). Everything but
 * the hand-over client is imported lazily, so a call the agent takes loads almost nothing.
 *
 * On a node this runs behind the native front door (cmd/braid-front/, installed as `braid`; this
 * is `braid-node` beside it): the front door has offered the call to the agent already, and runs
 * this with THIN_FLAG when no agent took it, so the call is done here at once.
 */
import { handOver, readAllStdin } from '../src/agent/client.ts';

async function runThin(stdin: string | undefined): Promise<number> {
  const [{ runPlugin }, { thinHandlers }, { nativeAddon }] = await Promise.all([
    import('../src/cni/skel.ts'),
    import('../src/multiplex/thin-handlers.ts'),
    import('../src/net/native-addon.ts'),
  ]);
  const addon = nativeAddon();
  const code = await runPlugin(thinHandlers(addon), process.env, stdin);
  // Registered last, so it runs after every other 'exit' listener (the single executable's code
  // cache is written in one): then _exit, skipping the teardown of Node's platform and heap.
  if (addon) process.once('exit', () => addon.exitNow(code));
  return code;
}

/** VERSION is answered from what this binary speaks: no verbs, no agent needed. */
async function runVersion(): Promise<number> {
  const [{ runPlugin }, { BRAID_SUPPORTED_VERSIONS }] = await Promise.all([
    import('../src/cni/skel.ts'),
    import('../src/cni/versions.ts'),
  ]);
  const never = (): never => {
    throw new Error('VERSION runs no verb');
  };
  return runPlugin({
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    add: never,
    del: never,
    check: never,
    status: never,
    gc: never,
  });
}

/** What the front door (cmd/braid-front/front.h THIN_FLAG) passes when no agent took the call. */
const THIN_FLAG = '--cni-thin';

async function runAsPlugin(thin: boolean): Promise<number> {
  if (process.env.CNI_COMMAND === 'VERSION') return runVersion();
  if (thin) return runThin(undefined);
  const stdin = await readAllStdin();
  if (stdin === undefined) return runThin(undefined);
  const outcome = await handOver(process.env, stdin);
  if (!outcome) return runThin(stdin);
  if (outcome.output) {
    const text = `${JSON.stringify(outcome.output)}\n`;
    await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  }
  return outcome.exitCode;
}

async function main(): Promise<number> {
  if (process.env.CNI_COMMAND) return runAsPlugin(process.argv.slice(2).includes(THIN_FLAG));
  const { runCli } = await import('../src/cli/main.ts');
  return runCli(process.argv.slice(2));
}

// No top-level await: the single-executable build bundles this file as CommonJS.
void main().then((code) => {
  // A plugin call has answered (stdout written and flushed) and has nothing left to do: exit at
  // once instead of waiting for the event loop to drain, which costs a thin call ~10 ms. The CLI
  // ends the ordinary way, so that whatever it streams is drained.
  if (process.env.CNI_COMMAND) process.exit(code);
  process.exitCode = code;
});
