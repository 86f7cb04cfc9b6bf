import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.ts';
import { CniCode, CniError } from '../../base/errors.ts';
import { SERVICE_ACCOUNT_DIR } from '../../k8s/kubeconfig.ts';

/**
 * The kubeconfig the host-side `braid` uses, made from the DaemonSet pod's service account (as
 * Multus' thin entrypoint does): the token and CA inline, the API server from the in-cluster
 * service variables. Service-account tokens are rotated (projected tokens every hour or so), so
 * the file is rewritten whenever the token or the CA changes (Multus #852, #1263: an expired
 * token fails every ADD with "Unauthorized").
 */
export interface ServiceAccountSource {
  /** Directory with `token` and `ca.crt`. */
  dir: string;
  env: Record<string, string | undefined>;
}

export interface KubeconfigState {
  /** SHA-256 over token and CA: what the file was last written from. */
  digest: string;
  text: string;
}

export const DEFAULT_SERVICE_ACCOUNT_DIR = SERVICE_ACCOUNT_DIR;

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CniError(
      CniCode.InvalidConfig,
      `cannot read the service account ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** The kubeconfig text for the service account as it is now. */
export function kubeconfigFromServiceAccount(sa: ServiceAccountSource): KubeconfigState {
  const host = sa.env.KUBERNETES_SERVICE_HOST;
  const port = sa.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new CniError(
      CniCode.InvalidConfig,
      'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set to write a kubeconfig from the service account (run inside a pod, or pass --no-kubeconfig)',
    );
  }
  const token = read(join(sa.dir, 'token'), 'token').trim();
  const ca = read(join(sa.dir, 'ca.crt'), 'CA');
  const protocol = sa.env.KUBERNETES_SERVICE_PROTOCOL || 'https';
  const server = `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'local', cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } },
    ],
    users: [{ name: 'braid', user: { token } }],
    contexts: [{ name: 'braid-context', context: { cluster: 'local', user: 'braid' } }],
    'current-context': 'braid-context',
  };
  const digest = createHash('sha256').update(token).update('\0').update(ca).digest('hex');
  // JSON is YAML too, and braid's plugin reads it without loading a YAML parser on every ADD.
  return { digest, text: `${JSON.stringify(doc, null, 2)}\n` };
}

/** Writes the kubeconfig (0600, atomically) when its content differs from what is there; true when written. */
export function writeKubeconfig(path: string, state: KubeconfigState): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === state.text) return false;
  writeFileAtomic(path, state.text, { durable: true, mode: 0o600 });
  return true;
}
