import http from 'node:http';
import https from 'node:https';
import { CniCode, CniError } from '../base/errors.ts';
import { authorizationHeader, type KubeAccess } from './kubeconfig.ts';
import type { NetworkAttachmentDefinition, ObjectMeta } from './types.ts';
import { LIMITS } from '../base/defaults.ts';

export interface KubeClientOptions {
  /** Bound on one HTTP attempt, connect to last byte. */
  timeoutMs?: number;
  /** Extra attempts after a 5xx, 429, refused/reset connection or timed-out attempt. */
  retries?: number;
  /** First pause between attempts; doubles each time, up to 8 times this value. */
  retryDelayMs?: number;
  /** Bound on one call including all its attempts; default: every attempt and pause at its maximum. */
  totalTimeoutMs?: number;
}

export interface KubePod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { nodeName?: string; [key: string]: unknown };
  status?: Record<string, unknown>;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export interface RequestOptions {
  /** Overrides the client's retries for this call. */
  retries?: number;
  retryOnConflict?: boolean;
}

const DEFAULTS = {
  timeoutMs: LIMITS.apiTimeoutSeconds * 1000,
  retries: LIMITS.apiRetries,
  retryDelayMs: LIMITS.apiRetryDelayMs,
};
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const RETRYABLE_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
const NAD_API = '/apis/k8s.cni.cncf.io/v1';

/**
 * A small JSON client for the few API calls braid makes. Every call is bounded in time: each
 * attempt by timeoutMs, the whole call by totalTimeoutMs, so a dead API server can never hang an ADD.
 */
export class KubeClient {
  /** HTTP requests sent so far, retries included (for the benchmark and tests). */
  requestCount = 0;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly totalTimeoutMs: number;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly basePath: string;

  constructor(
    readonly access: KubeAccess,
    opts: KubeClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
    this.retries = Math.max(0, opts.retries ?? DEFAULTS.retries);
    this.retryDelayMs = opts.retryDelayMs ?? DEFAULTS.retryDelayMs;
    let pauses = 0;
    for (let i = 0; i < this.retries; i++) pauses += this.backoff(i);
    this.totalTimeoutMs = opts.totalTimeoutMs ?? this.timeoutMs * (this.retries + 1) + pauses;
    this.url = new URL(access.server);
    this.basePath = this.url.pathname.replace(/\/+$/, '');
    const agentOpts = { keepAlive: true, maxSockets: 8 };
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({
            ...agentOpts,
            ...(access.ca ? { ca: access.ca } : {}),
            ...(access.clientCert ? { cert: access.clientCert, key: access.clientKey } : {}),
            ...(access.tlsServerName ? { servername: access.tlsServerName } : {}),
            rejectUnauthorized: !access.insecureSkipTlsVerify,
          })
        : new http.Agent(agentOpts);
  }

  /** The pod, or undefined when the API server says it does not exist. */
  async getPod(namespace: string, name: string): Promise<KubePod | undefined> {
    return this.getObject<KubePod>(
      `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`,
      `pod ${namespace}/${name}`,
    );
  }

  /** The NAD, or undefined when it does not exist; code 7 when the API does not serve NADs at all. */
  async getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined> {
    const what = `NetworkAttachmentDefinition ${namespace}/${name}`;
    const res = await this.request(
      'GET',
      `${NAD_API}/namespaces/${seg(namespace)}/network-attachment-definitions/${seg(name)}`,
    );
    // A missing object's Status names it in details; a missing resource type (no CRD) does not.
    if (res.status === 404 && !statusDetailsName(res.body)) {
      throw new CniError(
        CniCode.InvalidConfig,
        `Kubernetes API server ${this.access.server} does not serve ${NAD_API.slice(6)} network-attachment-definitions, needed for ${what}: install the NetworkAttachmentDefinition CRD`,
      );
    }
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw this.apiError('GET', what, res);
    return res.body as NetworkAttachmentDefinition;
  }

  /**
   * Sets (string) or removes (null) pod annotations through the pods/status subresource with a
   * JSON merge patch that names only these keys, so other annotations written meanwhile survive.
   * Undefined when the pod no longer exists.
   */
  async patchPodStatusAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<KubePod | undefined> {
    const path = `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}/status`;
    const res = await this.request('PATCH', path, { metadata: { annotations } }, 'application/merge-patch+json', {
      retryOnConflict: true,
    });
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw this.apiError('PATCH', `status of pod ${namespace}/${name}`, res);
    return res.body as KubePod;
  }

  /** Posts a core/v1 Event; one attempt only, so a slow API server cannot create duplicates. */
  async createEvent(namespace: string, event: Record<string, unknown>): Promise<void> {
    const res = await this.request('POST', `/api/v1/namespaces/${seg(namespace)}/events`, event, 'application/json', {
      retries: 0,
    });
    if (res.status >= 300) throw this.apiError('POST', `event in namespace ${namespace}`, res);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async getObject<T>(path: string, what: string): Promise<T | undefined> {
    const res = await this.request('GET', path);
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw this.apiError('GET', what, res);
    return res.body as T;
  }

  /**
   * One call with retries. Returns the last response for statuses the caller must interpret
   * (2xx, 4xx); throws CNI code 11 when the server stays unreachable or keeps answering 5xx.
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    opts: RequestOptions = {},
  ): Promise<ApiResponse> {
    const retries = opts.retries ?? this.retries;
    const deadline = Date.now() + this.totalTimeoutMs;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let lastProblem = '';
    let attempts = 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      attempts++;
      try {
        const res = await this.send(method, path, payload, contentType, Math.min(this.timeoutMs, remaining));
        const retryable = res.status >= 500 || res.status === 429 || (res.status === 409 && opts.retryOnConflict);
        if (!retryable) return res;
        lastProblem = `HTTP ${res.status}${statusMessage(res.body) ? ` (${statusMessage(res.body)})` : ''}`;
      } catch (e) {
        if (e instanceof CniError) throw e;
        const code = errorCode(e);
        if (isTlsVerifyError(code)) {
          throw new CniError(
            CniCode.InvalidConfig,
            `TLS verification of Kubernetes API server ${this.access.server} failed (${code}); check the certificate authority in ${this.access.source}`,
          );
        }
        lastProblem = code;
        if (!RETRYABLE_NET_CODES.has(code)) break;
      }
      const pause = Math.min(this.backoff(attempt), deadline - Date.now());
      if (attempt < retries && pause > 0) await sleep(pause);
    }
    throw new CniError(
      CniCode.TryAgainLater,
      `Kubernetes API server ${this.access.server} (${this.access.source}) did not answer ${method} ${path}: ${lastProblem || `no answer within ${this.totalTimeoutMs} ms`} after ${attempts} attempt(s); try again later`,
    );
  }

  private backoff(attempt: number): number {
    return Math.min(this.retryDelayMs * 2 ** attempt, this.retryDelayMs * 8);
  }

  private send(
    method: string,
    path: string,
    payload: Buffer | undefined,
    contentType: string,
    timeoutMs: number,
  ): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'braid' };
    const auth = authorizationHeader(this.access);
    if (auth) headers.authorization = auth;
    if (payload) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(payload.length);
    }
    const transport = this.url.protocol === 'https:' ? https : http;
    this.requestCount++;
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = transport.request({
        agent: this.agent,
        method,
        hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
        port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
        path: this.basePath + path,
        headers,
      });
      const timer = setTimeout(
        () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES)
            req.destroy(Object.assign(new Error('response too large'), { code: 'ERESPONSETOOLARGE' }));
          else chunks.push(chunk);
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: parseBody(Buffer.concat(chunks)) });
        });
        // A connection dropped mid-body may end without 'end'; settling twice is harmless.
        res.on('close', () => {
          clearTimeout(timer);
          if (!res.complete) reject(Object.assign(new Error('connection closed mid-response'), { code: 'ECONNRESET' }));
        });
      });
      req.end(payload);
    });
  }

  private apiError(method: string, what: string, res: ApiResponse): CniError {
    const detail = statusMessage(res.body);
    const hint =
      res.status === 401
        ? `; the credentials from ${this.access.source} were rejected`
        : res.status === 403
          ? "; braid's service account lacks RBAC permission for this"
          : '';
    // 401 can be a token that is being rotated: let the runtime try again.
    const code = res.status === 401 ? CniCode.TryAgainLater : CniCode.Internal;
    return new CniError(
      code,
      `Kubernetes API server ${this.access.server} refused ${method} ${what}: HTTP ${res.status}${detail ? ` ${detail}` : ''}${hint}`,
    );
  }
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

function parseBody(buf: Buffer): unknown {
  if (buf.length === 0) return undefined;
  const text = buf.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The message of a metav1.Status body, if that is what the server sent. */
export function statusMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  if (typeof body === 'string' && body.length < 200) return body.trim() || undefined;
  return undefined;
}

function statusDetailsName(body: unknown): string | undefined {
  const details = (body as { details?: { name?: unknown } } | null)?.details;
  return typeof details?.name === 'string' && details.name ? details.name : undefined;
}

function errorCode(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

function isTlsVerifyError(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
