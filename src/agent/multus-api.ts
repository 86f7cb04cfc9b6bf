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

/** A body in the shim's form, as braid's own hand-over request; undefined for braid's own form. */
export function shimRequestOf(body: unknown): HandOverRequest | undefined {
  if (!isObject(body) || 'stdin' in body || typeof body.config !== 'string') return undefined;
  const env: Record<string, string> = {};
  if (isObject(body.env)) for (const [k, v] of Object.entries(body.env)) if (typeof v === 'string') env[k] = v;
  return { env, stdin: Buffer.from(body.config, 'base64').toString('utf8') };
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
