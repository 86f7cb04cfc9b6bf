import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CniCode, CniError } from '../base/errors.ts';
import { ownDir } from '../base/own-dir.ts';
import { PATHS } from '../base/defaults.ts';

/**
 * `braid install`: what the DaemonSet's init container runs (and, with --watch, a container that
 * keeps it current). See src/cli/install/install-run.ts for what each pass does.
 */
interface InstallFlags {
  binDir?: string;
  binSource?: string;
  binaries: string;
  confDir: string;
  hostConfDir: string;
  confName: string;
  primary?: string;
  primaryTimeout: string;
  networkName: string;
  kubeconfig: boolean;
  serviceAccountDir: string;
  confTemplate?: string;
  watch?: boolean;
  interval: string;
  cleanupOnExit?: boolean;
  fromMultus?: boolean;
  multusDaemonConfig?: string;
  dryRun?: boolean;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new CniError(CniCode.InvalidConfig, `${flag} must be a number of seconds, got "${value}"`);
  return n * 1000;
}

function template(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CniError(CniCode.InvalidConfig, `--conf-template ${path}: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new CniError(CniCode.InvalidConfig, `--conf-template ${path} must hold a JSON object of braid conf keys`);
  }
  return doc as Record<string, unknown>;
}

export function registerInstall(program: Command): void {
  program
    .command('install')
    .description(
      "install braid on this node: binaries into the CNI bin dir, a kubeconfig, and braid's conf generated from the primary network's",
    )
    .option('--bin-dir <dir>', "the host's CNI bin dir as mounted here; binaries are not copied without it")
    .option('--bin-source <dir>', 'where the binaries to install are (default: beside this executable)')
    .option(
      '--binaries <names>',
      'comma-separated binaries to install: the front door, the Node implementation behind it, braid-veth, the delegate launcher',
      'braid,braid-node,braid-veth,braid-launch',
    )
    .option('--conf-dir <dir>', "the host's CNI conf dir as mounted here", `/host${PATHS.cniConfDir}`)
    .option('--host-conf-dir <dir>', 'the same directory as the host sees it (written into confs)', PATHS.cniConfDir)
    .option('--conf-name <file>', "braid's conf file; must sort first in the conf dir", '00-braid.conflist')
    .option(
      '--primary <file>',
      "the primary network's conf file in the conf dir (default: the first one that is not a meta plugin's)",
    )
    .option('--primary-timeout <seconds>', 'how long to wait for the primary conf to appear', '120')
    .option('--network-name <name>', "the network name of braid's conf", 'braid-cni-network')
    .option('--no-kubeconfig', 'do not write a kubeconfig from the service account')
    .option('--service-account-dir <dir>', 'service account token and ca.crt', PATHS.serviceAccountDir)
    .option(
      '--conf-template <file>',
      "JSON object of braid conf keys merged into the generated conf (e.g. the ConfigMap's)",
    )
    .option(
      '--watch',
      'keep running: rewrite the kubeconfig when the token or CA changes, regenerate the conf when the primary changes',
    )
    .option('--interval <seconds>', 'how often --watch looks', '10')
    .option('--cleanup-on-exit', "with --watch: remove braid's conf on SIGTERM/SIGINT")
    .option('--from-multus', "carry Multus' conf (00-multus.conf) and thick daemon config over into braid's conf")
    .option(
      '--multus-daemon-config <file>',
      "Multus' daemon-config.json (default: <conf-dir>/multus.d/daemon-config.json)",
    )
    .option('--dry-run', "with --from-multus: print braid's conf and every Multus key not carried over; write nothing")
    .action(async (flags: InstallFlags) => {
      if (flags.dryRun) {
        if (!flags.fromMultus) throw new CniError(CniCode.InvalidConfig, '--dry-run needs --from-multus');
        const { dryRunReport } = await import('./install/from-multus.ts');
        process.stdout.write(
          dryRunReport({
            confDir: flags.confDir,
            hostConfDir: flags.hostConfDir,
            daemonConfig: flags.multusDaemonConfig,
            primary: flags.primary,
            networkName: flags.networkName,
            kubeconfig: flags.kubeconfig ? `${flags.hostConfDir}/braid.d/braid.kubeconfig` : undefined,
            extra: template(flags.confTemplate),
          }),
        );
        return;
      }
      const { installAndWatch, installOnce } = await import('./install/install-run.ts');
      const opts = {
        binSource: flags.binSource ?? ownDir(),
        binaries: flags.binaries
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
        binDir: flags.binDir,
        confDir: flags.confDir,
        hostConfDir: flags.hostConfDir,
        confName: flags.confName,
        primary: flags.primary,
        primaryTimeoutMs: seconds(flags.primaryTimeout, '--primary-timeout'),
        networkName: flags.networkName,
        serviceAccount: flags.kubeconfig ? { dir: flags.serviceAccountDir, env: process.env } : undefined,
        extra: template(flags.confTemplate),
        fromMultus: flags.fromMultus ? { daemonConfig: flags.multusDaemonConfig } : undefined,
        log: (line: string) => void process.stderr.write(`braid install: ${line}\n`),
      };
      if (!flags.watch) {
        await installOnce(opts);
        return;
      }
      const stop = new AbortController();
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
      await installAndWatch(opts, seconds(flags.interval, '--interval'), stop.signal, flags.cleanupOnExit === true);
    });
}
