import type http from 'node:http';
import { mergeCniArgs, parseCniArgs } from '../cni/args.ts';
import { parseNetworkConfig } from '../cni/conflist.ts';
import { resultToVersion } from '../cni/convert.ts';
import { asCniError, CniCode, CniError } from '../base/errors.ts';
import type { NetworkConfigList } from '../cni/netconf.ts';
import type { CniResult } from '../cni/result.ts';
import { addNetworkList, checkNetworkList, delNetworkList } from '../cni/runtime.ts';
import type { DelegateContext } from '../cni/list-context.ts';
import { networkStatusEntries, parseNetworkStatus } from '../k8s/network-status.ts';
import type { KubeClient } from '../k8s/rest-client.ts';
import { writeNetworkStatus } from '../k8s/status-writer.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus } from '../k8s/types.ts';
import { listCache, writeCache, type CachedAttachment, type CacheRecord } from '../cache/attachment-cache.ts';
import { rewritePlugins } from '../multiplex/conf-rewrite.ts';
import { lockContainer } from '../multiplex/lock.ts';
import type { PodRef } from '../multiplex/plan-types.ts';
import { podRefFromArgs } from '../multiplex/resolve.ts';
import { MAX_REQUEST_BYTES } from './protocol.ts';

/**
 * Multus' `POST /delegate`: one delegate ADD, DEL or CHECK in a running pod, the interface
 * hot-plug of multus-dynamic-networks-controller and KubeVirt. The body is Multus' api.Request:
 * `{env, config, interfaceAttributes}` with `config` the delegate's CNI conf (base64) and the
 * attributes `{ipRequest, macRequest, cni-args}`. braid adds the attachment to the pod's record
 * (so the pod's DEL frees it too) and updates network-status when it has API access.
 */
export interface DelegateApiDeps {
  /** braid's per-container cache directory (the agent's --cache-dir). */
  cacheDir: string;
  /** Prepended to the request's CNI_PATH (Multus' binDir). */
  binDir: string;
  delegateTimeoutMs: number;
  client?: KubeClient;
  log: (line: string) => void;
}

interface DelegateCall {
  verb: string;
  containerId: string;
  netns: string;
  ifname: string;
  pod: PodRef | undefined;
  list: NetworkConfigList;
  ctx: DelegateContext;
  env: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): CniError {
  return new CniError(CniCode.InvalidConfig, `/delegate: ${message}`);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw bad(`request larger than ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (!isObject(body)) throw bad('the body is not a JSON object');
  return body;
}

function parseCall(body: Record<string, unknown>, deps: DelegateApiDeps): DelegateCall {
  const env: Record<string, string> = {};
  if (isObject(body.env)) for (const [k, v] of Object.entries(body.env)) if (typeof v === 'string') env[k] = v;
  const need = (key: string): string => {
    const value = env[key];
    if (!value) throw bad(`env.${key} is missing`);
    return value;
  };
  const verb = need('CNI_COMMAND');
  if (typeof body.config !== 'string') throw bad('"config" (the delegate conf, base64) is missing');
  let list = parseNetworkConfig(Buffer.from(body.config, 'base64').toString('utf8'), '/delegate config');
  const attrs = isObject(body.interfaceAttributes) ? body.interfaceAttributes : {};
  const caps: Record<string, unknown> = {};
  const legacy: [string, string][] = [];
  if (Array.isArray(attrs.ipRequest) && attrs.ipRequest.length > 0) caps.ips = attrs.ipRequest;
  if (typeof attrs.macRequest === 'string' && attrs.macRequest !== '') {
    caps.mac = attrs.macRequest;
    legacy.push(['MAC', attrs.macRequest]);
  }
  const cniArgs = attrs['cni-args'] ?? attrs.cniArgs;
  if (isObject(cniArgs)) {
    list = rewritePlugins(list, '/delegate config', (p) => {
      const args = isObject(p.args) ? p.args : {};
      p.args = { ...args, cni: { ...(isObject(args.cni) ? args.cni : {}), ...cniArgs } };
    });
  }
  const args = parseCniArgs(env.CNI_ARGS ?? '');
  const containerId = need('CNI_CONTAINERID');
  const ifname = need('CNI_IFNAME');
  const netns = env.CNI_NETNS ?? '';
  const cniPath = [...new Set([deps.binDir, ...(env.CNI_PATH ?? '').split(':')].filter((d) => d !== ''))];
  const ctx: DelegateContext = {
    containerId,
    netns,
    ifname,
    args: mergeCniArgs(args, [['IgnoreUnknown', '1'], ...legacy]),
    capabilityArgs: caps,
    cniPath,
    timeoutMs: deps.delegateTimeoutMs,
    label: `${list.name} (${ifname})`,
    env,
  };
  return { verb, containerId, netns, ifname, pod: podRefFromArgs(args), list, ctx, env };
}

/** The pod's braid record (the runtime's ifname may be anything, so it is found by container). */
function recordOf(cacheDir: string, containerId: string): CacheRecord | undefined {
  for (const { read } of listCache(cacheDir))
    if (read.status === 'ok' && read.record.containerId === containerId) return read.record;
  return undefined;
}

async function updateStatus(
  deps: DelegateApiDeps,
  call: DelegateCall,
  add: NetworkStatus[] | undefined,
): Promise<void> {
  if (!deps.client || !call.pod) return;
  const pod = await deps.client.getPod(call.pod.namespace, call.pod.name);
  if (!pod) return;
  const current = pod.metadata.annotations?.[ANNOTATION_NETWORK_STATUS];
  const kept = (current ? parseNetworkStatus(current) : []).filter((s) => s.interface !== call.ifname);
  await writeNetworkStatus(deps.client, call.pod.namespace, call.pod.name, [...kept, ...(add ?? [])]);
}

async function run(deps: DelegateApiDeps, call: DelegateCall): Promise<CniResult | undefined> {
  const lock = await lockContainer(deps.cacheDir, call.containerId, deps.delegateTimeoutMs);
  try {
    const record = recordOf(deps.cacheDir, call.containerId);
    const cached = record?.attachments.find((a) => a.ifname === call.ifname);
    const network = call.pod ? `${call.pod.namespace}/${call.list.name}` : call.list.name;
    if (call.verb === 'ADD') {
      if (cached)
        throw new CniError(
          CniCode.InvalidConfig,
          `/delegate: pod interface ${call.ifname} already exists (${cached.network})`,
        );
      const result = await addNetworkList(call.list, call.ctx);
      if (record) {
        const att: CachedAttachment = {
          network,
          ifname: call.ifname,
          isDefault: false,
          confBytes: call.list.bytes,
          cniArgs: call.ctx.args,
          capabilityArgs: call.ctx.capabilityArgs,
          state: 'added',
          result,
        };
        writeCache(deps.cacheDir, { ...record, attachments: [...record.attachments, att] });
      }
      await updateStatus(
        deps,
        call,
        networkStatusEntries(network, call.ifname, result, { isDefault: false, netns: call.netns }),
      );
      return result;
    }
    if (call.verb === 'DEL') {
      const list = cached
        ? parseNetworkConfig(cached.confBytes, `cached configuration of ${cached.network}`)
        : call.list;
      const ctx = cached ? { ...call.ctx, args: cached.cniArgs, capabilityArgs: cached.capabilityArgs } : call.ctx;
      await delNetworkList(list, ctx, cached?.result);
      if (record && cached)
        writeCache(deps.cacheDir, { ...record, attachments: record.attachments.filter((a) => a !== cached) });
      await updateStatus(deps, call, undefined);
      return undefined;
    }
    if (call.verb === 'CHECK') {
      if (!cached?.result)
        throw new CniError(
          CniCode.UnknownContainer,
          `/delegate: no added interface ${call.ifname} in container ${call.containerId}`,
        );
      await checkNetworkList(call.list, call.ctx, cached.result);
      return undefined;
    }
    throw bad(`CNI_COMMAND ${call.verb} is not served (ADD, DEL, CHECK)`);
  } finally {
    await lock.release();
  }
}

/** Serves one `POST /delegate`: 200 with `{"result": ...}` (ADD) or an empty body, else 400 with the error. */
export async function serveDelegate(
  deps: DelegateApiDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  let body = '';
  let status = 200;
  try {
    const call = parseCall(await readJson(req), deps);
    const result = await run(deps, call);
    if (result) body = JSON.stringify({ result: resultToVersion(result, '1.0.0') });
    deps.log(`/delegate ${call.verb} ${call.list.name} as ${call.ifname} in container ${call.containerId}: done`);
  } catch (e) {
    status = 400;
    body = asCniError(e).message;
    deps.log(body);
  }
  res.writeHead(status, {
    'content-type': status === 200 ? 'application/json' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
