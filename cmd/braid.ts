/**
 * `braid`: with CNI_COMMAND set it is the CNI plugin a container runtime calls; with arguments and
 * no CNI_COMMAND it is the command-line tool. The CLI is imported lazily so that the plugin path
 * loads as little code as possible.
 */
import { runPlugin } from '../src/cni/skel.ts';
import { braidHandlers } from '../src/multiplex/handlers.ts';

if (process.env.CNI_COMMAND) {
  process.exitCode = await runPlugin(braidHandlers);
} else {
  const { runCli } = await import('../src/cli/main.ts');
  process.exitCode = await runCli(process.argv.slice(2));
}
