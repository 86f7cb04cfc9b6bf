import { Command, CommanderError } from 'commander';
import { asCniError } from '../base/errors.ts';
import { registerInstall } from './install.ts';
import { registerPolicy } from './policy.ts';
import { registerStatus } from './status.ts';
import { registerValidate } from './validate.ts';

/** Each subcommand module registers itself; commands that need more code import it lazily. */
export async function runCli(argv: string[]): Promise<number> {
  const program = new Command('braid')
    .description(
      'braid: a Multus-compatible meta-CNI plugin. Run by the container runtime with CNI_COMMAND set; these are its tools.',
    )
    .exitOverride()
    .showHelpAfterError();
  registerValidate(program);
  registerStatus(program);
  registerInstall(program);
  registerPolicy(program);
  program
    .command('demo')
    .description(
      'run the demo: pods as network namespaces on a bridge cluster network plus macvlan and host-device secondaries',
    )
    .option('--keep', 'leave the demo namespaces in place for a look around')
    .action(async (opts: { keep?: boolean }) => {
      const { runDemo } = await import('../demo/demo.ts');
      await runDemo({ keep: opts.keep === true });
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const err = asCniError(e);
    process.stderr.write(`braid: ${err.message}${err.details ? ` (${err.details})` : ''} [CNI code ${err.code}]\n`);
    return 1;
  }
}
