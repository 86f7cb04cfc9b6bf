import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { CniCode, CniError } from '../base/errors.ts';
import { CONF_DEFAULTS } from '../config/conf.ts';
import { loadConfFile } from './load-conf-file.ts';
import { PATHS } from '../base/defaults.ts';

/** Defaults of the policy runtime's own locations (braid's conf has no keys for them yet). */
export const DEFAULT_POLICY_DIR = PATHS.policyDir;
export const DEFAULT_BPF_ROOT = PATHS.bpfRoot;
const DEFAULT_CONF = PATHS.braidConf;

interface LocationOptions {
  conf?: string;
  policyDir?: string;
  bpfRoot?: string;
  podDir?: string;
  cacheDir?: string;
  stateDir?: string;
}

function withLocations(cmd: Command): Command {
  return cmd
    .option('-c, --conf <file>', `braid conf, for its podDir and cniDir (default ${DEFAULT_CONF} when it exists)`)
    .option(
      '--policy-dir <dir>',
      `local policy store (default: the conf's policy.policyDir, else ${DEFAULT_POLICY_DIR})`,
    )
    .option(
      '--bpf-root <dir>',
      `bpffs pin root of the policy maps (default: the conf's policy.bpfRoot, else ${DEFAULT_BPF_ROOT})`,
    )
    .option('--pod-dir <dir>', "local pod store (default: the conf's podDir)")
    .option('--cache-dir <dir>', "braid's cache directory (default: the conf's cniDir)")
    .option('--state-dir <dir>', 'policy registry of enforced interfaces (default: <cache-dir>/policy)');
}

async function runtimeOptions(o: LocationOptions) {
  let podDir: string = CONF_DEFAULTS.podDir;
  let cacheDir: string = CONF_DEFAULTS.cniDir;
  let bpfRoot = DEFAULT_BPF_ROOT;
  let policyDir = DEFAULT_POLICY_DIR;
  const conf = o.conf ?? (existsSync(DEFAULT_CONF) ? DEFAULT_CONF : undefined);
  if (conf) {
    const loaded = loadConfFile(conf).conf;
    podDir = loaded.podDir;
    cacheDir = loaded.cniDir;
    bpfRoot = loaded.policy.bpfRoot;
    policyDir = loaded.policy.policyDir;
  }
  const opts: import('../policy/runtime.ts').PolicyRuntimeOptions = {
    bpfRoot: o.bpfRoot ?? bpfRoot,
    policyDir: o.policyDir ?? policyDir,
    podDir: o.podDir ?? podDir,
    cacheDir: o.cacheDir ?? cacheDir,
  };
  if (o.stateDir) opts.stateDir = o.stateDir;
  return opts;
}

function summary(r: import('../policy/runtime.ts').ReconcileReport): string {
  const base = `${r.interfaces} enforced interface(s), ${r.changed} updated (${r.written} entries written, ${r.deleted} removed)`;
  return r.errors.length === 0 ? base : `${base}; not updated: ${r.errors.map((e) => e.message).join('; ')}`;
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('MultiNetworkPolicy enforcement on pod interfaces (local policy store)');

  withLocations(policy.command('apply'))
    .description('store MultiNetworkPolicy (and Namespace) manifests and update every enforced interface')
    .requiredOption('-f, --filename <path>', 'a manifest file, or a directory of .yaml/.yml/.json files')
    .option('-n, --namespace <ns>', 'namespace for policies that name none', 'default')
    .action(async (o: LocationOptions & { filename: string; namespace: string }) => {
      const { PolicyStore, manifestFiles } = await import('../policy/store.ts');
      const { checkPolicies } = await import('../policy/check.ts');
      const { reconcileAll } = await import('../policy/node-reconcile.ts');
      const opts = await runtimeOptions(o);
      const store = new PolicyStore(opts.policyDir);
      const applied = store.apply(manifestFiles(o.filename), o.namespace, (incoming) => checkPolicies(opts, incoming));
      for (const p of applied.policies) process.stdout.write(`multinetworkpolicy ${p} configured\n`);
      for (const n of applied.namespaces) process.stdout.write(`namespace ${n} configured\n`);
      for (const s of applied.skipped)
        process.stdout.write(`skipped ${s}: braid policy stores MultiNetworkPolicy and Namespace objects only\n`);
      process.stdout.write(`${summary(reconcileAll(opts))}\n`);
    });

  withLocations(policy.command('delete'))
    .description('remove a policy from the store and update every enforced interface')
    .argument('<ns/name>', 'the policy, as namespace/name')
    .action(async (ref: string, o: LocationOptions) => {
      const [namespace, name, extra] = ref.split('/');
      if (!namespace || !name || extra !== undefined) {
        throw new CniError(CniCode.InvalidConfig, `"${ref}" is not namespace/name (e.g. default/allow-db)`);
      }
      const { PolicyStore } = await import('../policy/store.ts');
      const { reconcileAll } = await import('../policy/node-reconcile.ts');
      const opts = await runtimeOptions(o);
      if (!new PolicyStore(opts.policyDir).delete(namespace, name)) {
        throw new CniError(CniCode.InvalidConfig, `no MultiNetworkPolicy ${ref} in ${opts.policyDir}`);
      }
      process.stdout.write(`multinetworkpolicy ${ref} deleted\n${summary(reconcileAll(opts))}\n`);
    });

  withLocations(policy.command('watch'))
    .description(
      'apply every change to the local policy and pod stores at once, until stopped (what braid-agent does without Kubernetes)',
    )
    .action(async (o: LocationOptions) => {
      const { LocalStoreWatch } = await import('../policy/store-watch.ts');
      const opts = await runtimeOptions(o);
      const watcher = new LocalStoreWatch(opts, {
        log: (line) => process.stderr.write(`${line}\n`),
        onReconcile: (r, trigger) => {
          if (trigger !== 'periodic' || r.changed > 0 || r.errors.length > 0)
            process.stdout.write(`${trigger}: ${summary(r)}\n`);
        },
      });
      process.stdout.write(`watching ${opts.policyDir} and ${opts.podDir}\n`);
      watcher.start();
      await new Promise<void>((resolve) => {
        const stop = () => resolve(watcher.stop());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  withLocations(policy.command('show'))
    .description('per pod interface: the policies that select it, isolation per direction, and the counters')
    .option('--json', 'print JSON (counters as strings)')
    .action(async (o: LocationOptions & { json?: boolean }) => {
      const { formatPolicyStatus, policyStatus } = await import('../policy/show.ts');
      const rows = policyStatus(await runtimeOptions(o));
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
        );
      } else {
        process.stdout.write(formatPolicyStatus(rows));
      }
    });
}
