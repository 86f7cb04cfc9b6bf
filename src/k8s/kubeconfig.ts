import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadYaml } from './yaml-loader.ts';
import { CniCode, CniError } from '../base/errors.ts';
import { PATHS } from '../base/defaults.ts';

/** How requests prove who braid is. A token file is read again for every request (rotation). */
export type KubeAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'tokenFile'; path: string }
  | { kind: 'basic'; username: string; password: string };

/** Everything needed to reach one API server; certificates are held as PEM text. */
export interface KubeAccess {
  /** Base URL without a trailing slash, e.g. https://10.96.0.1:443. */
  server: string;
  /** Where this came from, for error messages: the kubeconfig path or "in-cluster". */
  source: string;
  auth: KubeAuth;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
}

export type Env = Record<string, string | undefined>;

export interface KubeconfigOptions {
  /** Service-account directory for in-cluster access; tests point it at a temp dir. */
  serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = PATHS.serviceAccountDir;

/**
 * The API server access braid is configured for: the kubeconfig at `path`; or, when `path` is
 * empty, in-cluster access from KUBERNETES_SERVICE_HOST/PORT and the service-account files;
 * undefined when neither is configured (braid then runs without Kubernetes).
 */
export async function findKubeAccess(
  path: string | undefined,
  env: Env,
  opts: KubeconfigOptions = {},
): Promise<KubeAccess | undefined> {
  if (path) return readKubeconfigFile(path);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterAccess(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  return undefined;
}

/** Like findKubeAccess, but a missing configuration is an error (CNI code 7). */
export async function loadKubeconfig(
  path: string | undefined,
  env: Env,
  opts: KubeconfigOptions = {},
): Promise<KubeAccess> {
  const access = await findKubeAccess(path, env, opts);
  if (!access) {
    throw new CniError(
      CniCode.InvalidConfig,
      'no Kubernetes access configured: set "kubeconfig" in the braid configuration or run with KUBERNETES_SERVICE_HOST/PORT and a service account',
    );
  }
  return access;
}

/** The Authorization header value for the next request; re-reads a token file every time. */
export function authorizationHeader(access: KubeAccess): string | undefined {
  const auth = access.auth;
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'token':
      return `Bearer ${auth.token}`;
    case 'basic':
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    case 'tokenFile': {
      let token: string;
      try {
        token = readFileSync(auth.path, 'utf8').trim();
      } catch (e) {
        throw new CniError(
          CniCode.InvalidConfig,
          `cannot read token file ${auth.path} (from ${access.source}): ${errText(e)}`,
        );
      }
      if (!token) throw new CniError(CniCode.InvalidConfig, `token file ${auth.path} (from ${access.source}) is empty`);
      return `Bearer ${token}`;
    }
  }
}

function inClusterAccess(env: Env, saDir: string): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT;
  const source = `in-cluster (KUBERNETES_SERVICE_HOST=${host})`;
  if (!port) {
    throw new CniError(
      CniCode.InvalidConfig,
      `${source}: KUBERNETES_SERVICE_PORT is not set; in-cluster access needs both host and port`,
    );
  }
  const tokenPath = `${saDir}/token`;
  const caPath = `${saDir}/ca.crt`;
  const access: KubeAccess = {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    source,
    auth: { kind: 'tokenFile', path: tokenPath },
    ca: readPem(caPath, `${source}: service-account CA`),
    insecureSkipTlsVerify: false,
  };
  authorizationHeader(access); // fail now, with the path, if the token is missing
  return access;
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

/**
 * A kubeconfig as a value. JSON (what `braid install` writes) is parsed directly; YAML loads the
 * YAML parser first, which costs a plugin process tens of milliseconds, so only then.
 */
async function parseKubeconfigText(text: string): Promise<unknown> {
  try {
    return JSON.parse(text);
  } catch {
    return (await loadYaml()).parse(text);
  }
}

async function readKubeconfigFile(path: string): Promise<KubeAccess> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CniError(CniCode.InvalidConfig, `cannot read kubeconfig ${path}: ${errText(e)}`);
  }
  let doc: unknown;
  try {
    doc = await parseKubeconfigText(text);
  } catch (e) {
    throw new CniError(CniCode.InvalidConfig, `kubeconfig ${path} is not valid YAML: ${errText(e)}`);
  }
  if (!isObject(doc)) throw new CniError(CniCode.InvalidConfig, `kubeconfig ${path} is not a kubeconfig object`);
  return accessFromKubeconfig(doc, path);
}

/** Builds access from a parsed kubeconfig document; relative file paths are relative to `path`. */
export function accessFromKubeconfig(doc: Record<string, unknown>, path: string): KubeAccess {
  const bad = (field: string, why: string): CniError =>
    new CniError(CniCode.InvalidConfig, `kubeconfig ${path}: ${field} ${why}`);
  const baseDir = dirname(path);
  const file = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  const contexts = listOf<Record<string, unknown>>(doc, 'contexts', path);
  const clusters = listOf<Record<string, unknown>>(doc, 'clusters', path);
  const users = listOf<Record<string, unknown>>(doc, 'users', path);

  let clusterName: unknown;
  let userName: unknown;
  const current = doc['current-context'];
  if (typeof current === 'string' && current !== '') {
    const ctx = contexts.find((c) => c.name === current);
    if (!ctx?.context) throw bad('current-context', `names context "${current}", which is not in "contexts"`);
    clusterName = ctx.context.cluster;
    userName = ctx.context.user;
  } else if (contexts.length === 1 && contexts[0]?.context) {
    clusterName = contexts[0].context.cluster;
    userName = contexts[0].context.user;
  } else if (contexts.length > 1) {
    throw bad('current-context', `is not set and there are ${contexts.length} contexts to choose from`);
  }

  const clusterEntry =
    clusterName === undefined && clusters.length === 1 ? clusters[0] : clusters.find((c) => c.name === clusterName);
  const cluster = clusterEntry?.cluster;
  if (!cluster)
    throw bad(
      'clusters',
      clusterName === undefined ? 'has no cluster to use' : `has no cluster named "${String(clusterName)}"`,
    );
  const clusterField = `clusters[${String(clusterEntry?.name ?? '')}].cluster`;

  const server = cluster.server;
  if (typeof server !== 'string' || !/^https?:\/\/[^/]/.test(server)) {
    throw bad(`${clusterField}.server`, `must be an http(s) URL, got ${JSON.stringify(server)}`);
  }
  const access: KubeAccess = {
    server: server.replace(/\/+$/, ''),
    source: `kubeconfig ${path}`,
    auth: { kind: 'none' },
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
  const caData = cluster['certificate-authority-data'];
  const caFile = cluster['certificate-authority'];
  if (typeof caData === 'string' && caData)
    access.ca = decodeBase64(caData, `${clusterField}.certificate-authority-data`, path);
  else if (typeof caFile === 'string' && caFile)
    access.ca = readPem(file(caFile), `kubeconfig ${path}: ${clusterField}.certificate-authority`);
  if (typeof cluster['tls-server-name'] === 'string') access.tlsServerName = cluster['tls-server-name'];

  const userEntry =
    userName === undefined ? (users.length === 1 ? users[0] : undefined) : users.find((u) => u.name === userName);
  if (userName !== undefined && !userEntry) throw bad('users', `has no user named "${String(userName)}"`);
  const user = userEntry?.user;
  if (user) applyUser(access, user, `users[${String(userEntry?.name ?? '')}].user`, path, file);
  return access;
}

function applyUser(
  access: KubeAccess,
  user: Record<string, unknown>,
  field: string,
  path: string,
  file: (p: string) => string,
): void {
  const where = `kubeconfig ${path}: ${field}`;
  for (const unsupported of ['exec', 'auth-provider']) {
    if (user[unsupported] !== undefined) {
      throw new CniError(
        CniCode.InvalidConfig,
        `${where}.${unsupported} is not supported by braid; use a token, tokenFile or client certificate`,
      );
    }
  }
  const str = (key: string): string | undefined => {
    const v = user[key];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  // A token file wins over an inline token, as in client-go: the file is the one kept current.
  const tokenFile = str('tokenFile');
  const token = str('token');
  if (tokenFile) access.auth = { kind: 'tokenFile', path: file(tokenFile) };
  else if (token) access.auth = { kind: 'token', token };
  else if (str('username') && str('password'))
    access.auth = { kind: 'basic', username: str('username')!, password: str('password')! };

  const certData = str('client-certificate-data');
  const certFile = str('client-certificate');
  const keyData = str('client-key-data');
  const keyFile = str('client-key');
  if (certData) access.clientCert = decodeBase64(certData, `${field}.client-certificate-data`, path);
  else if (certFile) access.clientCert = readPem(file(certFile), `${where}.client-certificate`);
  if (keyData) access.clientKey = decodeBase64(keyData, `${field}.client-key-data`, path);
  else if (keyFile) access.clientKey = readPem(file(keyFile), `${where}.client-key`);
  if (!!access.clientCert !== !!access.clientKey) {
    const missing = access.clientCert
      ? 'client-key or client-key-data'
      : 'client-certificate or client-certificate-data';
    throw new CniError(
      CniCode.InvalidConfig,
      `${where} has a client ${access.clientCert ? 'certificate' : 'key'} but no ${missing}`,
    );
  }
  if (tokenFile) authorizationHeader(access); // report an unreadable token file now, with its path
}

function listOf<T>(doc: Record<string, unknown>, key: string, path: string): Named<T>[] {
  const v = doc[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every(isObject)) {
    throw new CniError(CniCode.InvalidConfig, `kubeconfig ${path}: "${key}" must be a list of named entries`);
  }
  return v as Named<T>[];
}

function decodeBase64(data: string, field: string, path: string): string {
  const text = Buffer.from(data, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) {
    throw new CniError(CniCode.InvalidConfig, `kubeconfig ${path}: ${field} is not base64-encoded PEM`);
  }
  return text;
}

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CniError(CniCode.InvalidConfig, `${what}: cannot read ${path}: ${errText(e)}`);
  }
  if (!text.includes('-----BEGIN')) throw new CniError(CniCode.InvalidConfig, `${what}: ${path} is not a PEM file`);
  return text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errText(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}
