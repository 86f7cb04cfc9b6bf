import { parseResult, resultToVersion } from '../cni/convert.ts';
import { CniCode, CniError } from '../base/errors.ts';
import { execPlugin } from '../cni/exec.ts';
import { findPlugin } from '../cni/find.ts';
import { negotiateVersion, pluginVersions } from '../cni/plugin-versions.ts';
import type { CniRequest } from '../cni/request.ts';
import type { CniResult } from '../cni/result.ts';
import { versionAtLeast } from '../cni/versions.ts';

const IPAM_TIMEOUT_MS = 30_000;

/** The environment and config of one IPAM call (M2: the plugin's own env, verb replaced). */
export interface IpamCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';
  /** Directories to look for the IPAM binary in (CNI_PATH). */
  path: string[];
  containerId: string;
  netns: string;
  ifname: string;
  argsRaw: string;
  /** The network config as received, and its parsed form. */
  stdin: string;
  config: Record<string, unknown>;
  cniVersion: string;
}

function ipamType(config: Record<string, unknown>): string {
  const t = (config.ipam as { type?: unknown } | undefined)?.type;
  if (typeof t !== 'string' || t === '') {
    throw new CniError(CniCode.InvalidConfig, `network "${String(config.name)}": "ipam.type" must name an IPAM plugin`);
  }
  return t;
}

function environment(call: IpamCall): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname,
    CNI_ARGS: call.argsRaw,
    CNI_PATH: call.path.join(':'),
  });
  return env;
}

/**
 * The config bytes for the IPAM plugin at `version`: byte-identical to ours when the plugin
 * speaks our version (M2); otherwise re-serialised with cniVersion lowered and prevResult
 * converted to it (L7), e.g. a 1.1.0 network with Debian's 1.0.0-only host-local.
 */
function stdinFor(call: IpamCall, version: string): string {
  if (version === call.cniVersion) return call.stdin;
  const config: Record<string, unknown> = { ...call.config, cniVersion: version };
  if (config.prevResult) config.prevResult = resultToVersion(parseResult(config.prevResult, call.cniVersion), version);
  return JSON.stringify(config);
}

async function resolve(call: IpamCall): Promise<{ binary: string; label: string; versions: string[] }> {
  const type = ipamType(call.config);
  const binary = findPlugin(type, call.path);
  const label = `IPAM ${type} of network "${String(call.config.name)}"`;
  return { binary, label, versions: await pluginVersions(binary, { timeoutMs: IPAM_TIMEOUT_MS, label }) };
}

/** STATUS and GC concern the plugin, not a container: they go out without container, netns or ifname. */
export function runIpamForPlugin(command: 'STATUS' | 'GC', req: CniRequest): Promise<CniResult | undefined | false> {
  return runIpam({
    command,
    path: req.path,
    containerId: '',
    netns: '',
    ifname: '',
    argsRaw: '',
    stdin: req.stdin,
    config: req.config,
    cniVersion: req.cniVersion,
  });
}

/**
 * Runs the IPAM plugin for ADD/DEL/CHECK and returns ADD's result in canonical form. STATUS and
 * GC are only forwarded to plugins that speak 1.1.0; `false` means the plugin cannot take them.
 */
export async function runIpam(call: IpamCall): Promise<CniResult | undefined | false> {
  const { binary, label, versions } = await resolve(call);
  if ((call.command === 'STATUS' || call.command === 'GC') && !versions.some((v) => versionAtLeast(v, '1.1.0'))) {
    return false;
  }
  const version = negotiateVersion(call.cniVersion, versions, label);
  const stdout = await execPlugin({
    path: binary,
    env: environment(call),
    stdin: stdinFor(call, version),
    timeoutMs: IPAM_TIMEOUT_MS,
    label,
  });
  if (call.command !== 'ADD') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new CniError(
      CniCode.DelegateBadOutput,
      `${label} printed a result that is not JSON: ${stdout.slice(0, 200)}`,
    );
  }
  return parseResult(parsed, version);
}

export async function ipamAdd(call: Omit<IpamCall, 'command'>): Promise<CniResult> {
  const r = await runIpam({ ...call, command: 'ADD' });
  // biome-ignore lint/complexity/useOptionalChain: r is `false` when the plugin printed nothing, not only undefined
  if (!r || !r.ips || r.ips.length === 0) {
    throw new CniError(
      CniCode.InvalidConfig,
      `IPAM of network "${String(call.config.name)}" returned no IP address; braid-veth needs at least one`,
    );
  }
  return r;
}
