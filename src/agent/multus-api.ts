import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { convertResult } from '../cni/convert.ts';
import type { PluginOutcome } from '../cni/skel.ts';
import type { HandOverRequest } from './protocol.ts';

/**
 * Multus' daemon API (thick mode, multus-compat.md section 7) on braid-agent's socket, so that a
 * node keeps working with Multus' shim (`multus-shim` in the CNI conf) while it switches:
 * - `POST /cni` with the shim's JSON `{env, config}` (`config` is the stdin bytes, base64, as Go
 *   marshals []byte); the answer is `{"result": <CNI 1.0.0 result>}` for ADD, an empty body for
 *   the other verbs, and HTTP 400 with the error's text on failure, as the shim expects;
 * - `POST /healthz` (the shim's readiness poll; GET too);
 * - `POST /delegate` (multus-delegate.ts): one delegate ADD/DEL into a running pod.
 */
export interface ShimRequest {
  env: Record<string, string>;
  /** base64 of the CNI conf the runtime gave the shim. */
  config: string;
  interfaceAttributes?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * How the shim's conf becomes braid's, as Multus' daemon does it: the daemon config's keys are
 * laid over it (server.go: every key, per request), and Multus' `cniDir` names Multus' cache,
 * which braid reads as `multusCniDir`; braid's own records go to the agent's cache directory.
 */
export interface ShimAdaptation {
  /** Multus' daemon-config.json keys (braid-agent --multus-daemon-config). */
  overlay: Record<string, unknown>;
  /** braid's cniDir in the agent (--cache-dir). */
  cacheDir: string;
}

function adaptConf(stdin: string, adapt: ShimAdaptation | undefined): string {
  if (!adapt) return stdin;
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch {
    return stdin; // braid reports the parse error as it would for its own front door
  }
  if (!isObject(conf)) return stdin;
  const merged: Record<string, unknown> = { ...conf, ...adapt.overlay };
  if (typeof merged.cniDir === 'string' && merged.multusCniDir === undefined) merged.multusCniDir = merged.cniDir;
  merged.cniDir = adapt.cacheDir;
  delete merged.cacheDir;
  return JSON.stringify(merged);
}

/** A body in the shim's form, as braid's own hand-over request; undefined for braid's own form. */
export function shimRequestOf(body: unknown, adapt?: ShimAdaptation): HandOverRequest | undefined {
  if (!isObject(body) || 'stdin' in body || typeof body.config !== 'string') return undefined;
  const env: Record<string, string> = {};
  if (isObject(body.env)) for (const [k, v] of Object.entries(body.env)) if (typeof v === 'string') env[k] = v;
  return { env, stdin: adaptConf(Buffer.from(body.config, 'base64').toString('utf8'), adapt) };
}

/** The error text the shim prints (the daemon sends Go's err.Error()). */
export function errorText(output: Record<string, unknown> | undefined): string {
  const msg = typeof output?.msg === 'string' ? output.msg : 'failed';
  const details = typeof output?.details === 'string' && output.details !== '' ? `; ${output.details}` : '';
  return `${msg}${details}`;
}

/** Answers a shim's call with what braid's own front door would have produced. */
export function sendShimOutcome(res: http.ServerResponse, verb: string, outcome: PluginOutcome): void {
  if (outcome.exitCode !== 0) {
    const text = errorText(outcome.output);
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  let body = '';
  if (verb === 'ADD' && outcome.output) {
    const version = typeof outcome.output.cniVersion === 'string' ? outcome.output.cniVersion : '1.0.0';
    body = JSON.stringify({ result: convertResult(outcome.output, version, '1.0.0') });
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Multus' daemon-config.json as an object (read once at start; a bad file stops the agent with its path). */
export function readMultusDaemonConfig(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`--multus-daemon-config ${path}: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new Error(`--multus-daemon-config ${path}: not a JSON object`);
  return doc;
}
