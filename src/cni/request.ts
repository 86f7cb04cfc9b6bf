import { parseCniArgs } from './args.ts';
import { CniCode, CniError } from '../base/errors.ts';
import type { HostRoot, SpawnDelegate } from './exec.ts';
import type { Attachment } from './netconf.ts';
import { validateContainerId, validateIfname, validateNetworkName } from './validate.ts';
import { isVersionString, versionAtLeast } from './versions.ts';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** One plugin invocation as the runtime made it (SPEC.md section 2). */
export interface CniRequest {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  argsRaw: string;
  args: [string, string][];
  path: string[];
  /** The stdin bytes exactly as received ('' for VERSION, which ignores stdin). */
  stdin: string;
  config: Record<string, unknown>;
  /** The config's cniVersion ("0.1.0" when absent, as libcni assumes). */
  cniVersion: string;
  /**
   * The whole environment the call came with (the runtime's, also when braid-agent serves the
   * call): the base environment of every plugin started for it.
   */
  env: CniEnv;
  /**
   * Where this call's delegates are found and run: the host's root file system as mounted in
   * braid-agent's container (--host-root); undefined: this process's own root.
   */
  hostRoot?: HostRoot | undefined;
  /** How this call's delegates are started (posix_spawn through braid's addon); undefined: Node's spawn. */
  spawn?: SpawnDelegate | undefined;
}

export type CniEnv = Record<string, string | undefined>;

/**
 * A2: env variables each verb needs. CNI_PATH is required where the Go skel requires it; STATUS
 * takes it when given. CNI_CONTAINERID/NETNS/IFNAME are never needed by STATUS or GC (F2, G5).
 */
const REQUIRED_ENV: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_COMMAND'],
  GC: ['CNI_COMMAND', 'CNI_PATH'],
  VERSION: ['CNI_COMMAND'],
};

/** Oldest config version that allows each verb (L6). */
const MIN_VERSION: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

function isCommand(c: string): c is CniCommand {
  return (CNI_COMMANDS as readonly string[]).includes(c);
}

/**
 * An unset variable is "missing" (code 4, A2). CNI_CONTAINERID set to "" is let through so
 * that A3 can answer with code 3 ("no such container"), as the spec reserves that code for it.
 */
function missingEnv(command: CniCommand, env: CniEnv): string[] {
  return REQUIRED_ENV[command].filter((name) => {
    const v = env[name];
    if (name === 'CNI_CONTAINERID') return v === undefined;
    return v === undefined || v === '';
  });
}

/** Parses the config on stdin: it must be a JSON object (A6, code 6). */
export function parseConfig(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, `error parsing network config on stdin: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CniError(CniCode.DecodeFailure, 'error parsing network config on stdin: expected a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** The config's cniVersion; absent means 0.1.0 (K6), a non-string is a decode failure. */
export function configVersion(config: Record<string, unknown>): string {
  const v = config.cniVersion;
  if (v === undefined || v === '') return '0.1.0';
  if (typeof v !== 'string') {
    throw new CniError(
      CniCode.DecodeFailure,
      `network config field "cniVersion" must be a string, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** Go's `%q` rendering of a string list, as in libcni's incompatibility details. */
function quoteList(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** H3: exact match against the supported list, code 1 otherwise. */
export function checkSupportedVersion(version: string, supported: readonly string[], who = 'plugin'): void {
  if (supported.includes(version)) return;
  const details = `config is ${JSON.stringify(version)}, ${who} supports ${quoteList(supported)}`;
  throw new CniError(CniCode.IncompatibleVersion, `incompatible CNI versions: ${details}`, details);
}

/**
 * Reads and validates one plugin invocation: env (A2-A4), stdin (A5, A6) and version (H3, E1,
 * F5, G5). Checks run in the Go skel's order so that the code reported for a request with
 * several problems matches what other plugins would answer.
 */
export function parseRequest(env: CniEnv, stdin: string, supportedVersions: readonly string[]): CniRequest {
  const rawCommand = env.CNI_COMMAND ?? '';
  if (rawCommand === '') {
    throw new CniError(CniCode.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
  }
  if (!isCommand(rawCommand)) {
    throw new CniError(CniCode.InvalidEnv, `unknown CNI_COMMAND: ${rawCommand}`);
  }
  const command = rawCommand;
  const missing = missingEnv(command, env);
  if (missing.length > 0) {
    throw new CniError(CniCode.InvalidEnv, `required env variables [${missing.join(',')}] missing`);
  }

  const argsRaw = env.CNI_ARGS ?? '';
  const base = {
    command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    argsRaw,
    path: (env.CNI_PATH ?? '').split(':').filter((d) => d !== ''),
    env,
  };

  if (command === 'VERSION') {
    // H1: VERSION needs nothing but the verb; whatever came on stdin is ignored.
    return { ...base, args: [], stdin: '', config: {}, cniVersion: versionOfAnyInput(stdin, supportedVersions) };
  }

  const config = parseConfig(stdin);
  validateNetworkName(config.name);
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    validateContainerId(base.containerId);
    validateIfname(base.ifname);
  }
  const args = parseCniArgs(argsRaw);
  const cniVersion = configVersion(config);
  const min = MIN_VERSION[command];
  if (min !== undefined && isVersionString(cniVersion) && !versionAtLeast(cniVersion, min)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `config version does not allow ${command}: ${command} needs cniVersion ${min} or newer, config "${config.name}" has ${JSON.stringify(cniVersion)}`,
    );
  }
  checkSupportedVersion(cniVersion, supportedVersions);
  return { ...base, args, stdin, config, cniVersion };
}

/**
 * The version to answer in when the request could not be parsed or is VERSION: the input's
 * version when it is one we speak, else the newest we speak.
 */
export function versionOfAnyInput(stdin: string, supportedVersions: readonly string[]): string {
  const newest = supportedVersions[supportedVersions.length - 1] ?? '1.1.0';
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    if (typeof v === 'string' && supportedVersions.includes(v)) return v;
  } catch {
    // Not JSON: fall through to the newest version.
  }
  return newest;
}

/**
 * G1: the attachments a GC request says are still in use. `cni.dev/valid-attachments` is the
 * spec's key; the 1.1.0 tag's `cni.dev/attachments` is accepted too. `null` (a Go nil slice)
 * means none; a request with neither key is refused rather than read as "collect everything".
 */
export function validAttachments(config: Record<string, unknown>): Attachment[] {
  const key = 'cni.dev/valid-attachments' in config ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  if (!(key in config)) {
    throw new CniError(
      CniCode.InvalidConfig,
      `GC request for network "${String(config.name)}" carries neither "cni.dev/valid-attachments" nor "cni.dev/attachments"; refusing to collect every attachment`,
    );
  }
  const raw = config[key];
  if (raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new CniError(
      CniCode.InvalidConfig,
      `"${key}" must be a list of {containerID, ifname}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw.map((entry: unknown, i) => {
    const e = entry as { containerID?: unknown; ifname?: unknown } | null;
    if (e === null || typeof e !== 'object' || typeof e.containerID !== 'string' || typeof e.ifname !== 'string') {
      throw new CniError(
        CniCode.InvalidConfig,
        `"${key}"[${i}] must be an object with string "containerID" and "ifname", got ${JSON.stringify(entry)}`,
      );
    }
    return { containerID: e.containerID, ifname: e.ifname };
  });
}
