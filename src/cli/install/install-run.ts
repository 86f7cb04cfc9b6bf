import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.ts';
import { CniCode, CniError } from '../../base/errors.ts';
import { installBinaries } from './binaries.ts';
import { kubeconfigFromServiceAccount, writeKubeconfig, type ServiceAccountSource } from './kubeconfig-file.ts';
import { multusKeys } from './from-multus.ts';
import { multusCniDir } from './multus-conf.ts';
import { braidConf, fileBefore, findPrimaryConf, type PrimaryConf } from './primary-conf.ts';

/**
 * `braid install`: the DaemonSet's init step, and with --watch its keeper. Paths come in pairs
 * where it matters: where this process writes (the host directory mounted into the pod) and
 * what the host sees (written into confs).
 */
export interface InstallOptions {
  /** Install binaries from here into binDir; undefined binDir skips the binaries. */
  binSource: string;
  binaries: string[];
  binDir: string | undefined;
  confDir: string;
  hostConfDir: string;
  confName: string;
  /** File name of the primary conf; default: auto-detect. */
  primary: string | undefined;
  primaryTimeoutMs: number;
  networkName: string;
  /** Write a kubeconfig from the service account (else braid gets none, or the one in `extra`). */
  serviceAccount: ServiceAccountSource | undefined;
  /** braid keys merged into the generated conf (the ConfigMap's). */
  extra: Record<string, unknown>;
  /** --from-multus: translate Multus' conf and daemon config (the daemon config's path, if not the default). */
  fromMultus?: { daemonConfig?: string | undefined } | undefined;
  log: (line: string) => void;
}

/** What the last pass wrote, to tell what changed. */
export interface InstallState {
  kubeconfigDigest: string | undefined;
  confText: string | undefined;
  /** --from-multus: the keys translated on the first pass (Multus' files may be gone later). */
  fromMultus?: Record<string, unknown>;
}

export const KUBECONFIG_SUBPATH = join('braid.d', 'braid.kubeconfig');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the primary network's conf: on a fresh node the cluster network installs itself after us. */
async function waitForPrimary(opts: InstallOptions): Promise<PrimaryConf> {
  const deadline = Date.now() + opts.primaryTimeoutMs;
  for (let announced = false; ; announced = true) {
    const primary = findPrimaryConf(opts.confDir, opts.primary);
    if (primary) return primary;
    if (Date.now() >= deadline) {
      throw new CniError(
        CniCode.InvalidConfig,
        `no primary network conf in ${opts.confDir} after ${opts.primaryTimeoutMs / 1000} s: install the cluster network first, or name it with --primary`,
      );
    }
    if (!announced) opts.log(`waiting for the primary network's conf in ${opts.confDir}`);
    await sleep(Math.min(1_000, opts.primaryTimeoutMs));
  }
}

function refreshKubeconfig(opts: InstallOptions, state: InstallState): void {
  if (!opts.serviceAccount) return;
  const kc = kubeconfigFromServiceAccount(opts.serviceAccount);
  // Compared with the file, not only the last digest: a removed or edited file is put back too.
  if (writeKubeconfig(join(opts.confDir, KUBECONFIG_SUBPATH), kc)) {
    opts.log(
      `${state.kubeconfigDigest ? 'rewrote' : 'wrote'} ${join(opts.confDir, KUBECONFIG_SUBPATH)} (service account token or CA ${state.kubeconfigDigest ? 'changed' : 'read'})`,
    );
  }
  state.kubeconfigDigest = kc.digest;
}

/** The braid plugin of braid's conflist as written earlier, if it parses. */
function braidPluginOf(text: string | undefined): Record<string, unknown> | undefined {
  try {
    const plugin = (JSON.parse(text ?? '') as { plugins?: unknown[] }).plugins?.[0];
    return typeof plugin === 'object' && plugin !== null ? (plugin as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The multusCniDir braid's conf already names (Multus' conf may be gone by a later pass). */
function earlierMultusCniDir(text: string | undefined): string | undefined {
  const dir = braidPluginOf(text)?.multusCniDir;
  return typeof dir === 'string' ? dir : undefined;
}

function writeConf(opts: InstallOptions, state: InstallState, primary: PrimaryConf): void {
  const earlier = fileBefore(opts.confDir, opts.confName);
  if (earlier) {
    throw new CniError(
      CniCode.InvalidConfig,
      `${join(opts.confDir, earlier)} sorts before ${opts.confName}, so the runtime would use it instead of braid: choose a --conf-name that sorts first`,
    );
  }
  const path = join(opts.confDir, opts.confName);
  const onDisk = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  // Pods Multus set up are taken over from its cache: its cniDir, found while its conf is there, kept after.
  const multusDir = multusCniDir(opts.confDir) ?? earlierMultusCniDir(onDisk);
  const conf = braidConf({
    primary,
    hostConfDir: opts.hostConfDir,
    networkName: opts.networkName,
    ...(opts.serviceAccount ? { kubeconfig: join(opts.hostConfDir, KUBECONFIG_SUBPATH) } : {}),
    extra: { ...(multusDir ? { multusCniDir: multusDir } : {}), ...state.fromMultus, ...opts.extra },
  });
  const text = `${JSON.stringify(conf, null, 2)}\n`;
  if (onDisk !== text) {
    writeFileAtomic(path, text, { durable: true, mode: 0o644 });
    opts.log(`wrote ${path} (primary network: ${primary.file}, cniVersion ${primary.cniVersion})`);
  }
  state.confText = text;
}

/**
 * --from-multus: Multus' keys, translated. Once Multus' conf is gone (set aside after the switch),
 * a restarted install keeps what braid's conf already carries instead of failing.
 */
function carryOverMultus(opts: InstallOptions, daemonConfig: string | undefined): Record<string, unknown> {
  const path = join(opts.confDir, opts.confName);
  try {
    const { keys, unmapped } = multusKeys({ confDir: opts.confDir, daemonConfig });
    opts.log(`carried over from Multus: ${Object.keys(keys).join(', ')}`);
    for (const u of unmapped)
      opts.log(`not carried over from Multus: ${u.key} = ${JSON.stringify(u.value)} (${u.note})`);
    return keys;
  } catch (e) {
    const earlier = existsSync(path) ? braidPluginOf(readFileSync(path, 'utf8')) : undefined;
    if (!earlier) throw e;
    opts.log(`no Multus conf any more; keeping the keys ${path} carries`);
    const { type: _t, clusterNetwork: _c, kubeconfig: _k, capabilities: _caps, ...kept } = earlier;
    return kept;
  }
}

/** One full pass: binaries, kubeconfig, then braid's conf (last: it turns braid on for new pods). */
export async function installOnce(
  opts: InstallOptions,
  state: InstallState = { kubeconfigDigest: undefined, confText: undefined },
): Promise<InstallState> {
  if (opts.binDir) {
    for (const b of installBinaries(opts.binSource, opts.binaries, opts.binDir)) {
      opts.log(b.changed ? `installed ${b.path}` : `${b.path} is up to date`);
    }
  }
  if (opts.fromMultus && !state.fromMultus) state.fromMultus = carryOverMultus(opts, opts.fromMultus.daemonConfig);
  refreshKubeconfig(opts, state);
  writeConf(opts, state, await waitForPrimary(opts));
  return state;
}

/** A later pass of --watch: a rotated token, a changed primary, or a removed braid conf. */
export function refresh(opts: InstallOptions, state: InstallState): void {
  refreshKubeconfig(opts, state);
  const primary = findPrimaryConf(opts.confDir, opts.primary);
  if (!primary) {
    opts.log(`the primary network's conf is gone from ${opts.confDir}; keeping braid's conf as it is`);
    return;
  }
  writeConf(opts, state, primary);
}

/** Removes braid's conf (on exit, with --cleanup-on-exit): new pods then get the primary network alone. */
export function removeConf(opts: InstallOptions): void {
  rmSync(join(opts.confDir, opts.confName), { force: true });
  opts.log(`removed ${join(opts.confDir, opts.confName)}`);
}

/** installOnce, then refresh every `intervalMs` until `signal` aborts; cleanup then if asked. */
export async function installAndWatch(
  opts: InstallOptions,
  intervalMs: number,
  signal: AbortSignal,
  cleanupOnExit: boolean,
): Promise<void> {
  const state = await installOnce(opts);
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (signal.aborted) break;
    try {
      refresh(opts, state);
    } catch (e) {
      opts.log(`refresh failed, trying again in ${intervalMs / 1000} s: ${(e as Error).message}`);
    }
  }
  if (cleanupOnExit) removeConf(opts);
}
