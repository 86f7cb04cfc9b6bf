import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import { authorizationHeader, findKubeAccess, loadKubeconfig } from '../../../src/k8s/kubeconfig.ts';

const PEM_CA = '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n';
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-kubeconfig-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}, extra = ''): string {
  const path = join(dir, 'braid.kubeconfig');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: 'https://10.96.0.1:443', ...cluster } }],
    users: [{ name: 'braid', user }],
    contexts: [{ name: 'braid-context', context: { cluster: 'local', user: 'braid' } }],
    'current-context': 'braid-context',
  };
  writeFileSync(path, JSON.stringify(doc) + extra);
  return path;
}

async function cniError(fn: () => Promise<unknown>): Promise<CniError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  throw new Error('expected a CniError');
}

describe('kubeconfig files', () => {
  it('reads server, inline token and base64 CA data', async () => {
    const access = await loadKubeconfig(
      kubeconfig({ token: 'abc' }, { 'certificate-authority-data': b64(PEM_CA) }),
      {},
    );
    expect(access.server).toBe('https://10.96.0.1:443');
    expect(access.ca).toBe(PEM_CA);
    expect(authorizationHeader(access)).toBe('Bearer abc');
    expect(access.insecureSkipTlsVerify).toBe(false);
  });

  it('reads YAML written the way kubectl writes it', async () => {
    const path = join(dir, 'config');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'clusters:',
        '- cluster:',
        '    server: https://api.example:6443',
        '    insecure-skip-tls-verify: true',
        '  name: c',
        'contexts:',
        '- context: {cluster: c, user: u}',
        '  name: ctx',
        'current-context: ctx',
        'users:',
        '- name: u',
        '  user:',
        '    username: admin',
        '    password: secret',
      ].join('\n'),
    );
    const access = await loadKubeconfig(path, {});
    expect(access.insecureSkipTlsVerify).toBe(true);
    expect(authorizationHeader(access)).toBe(`Basic ${b64('admin:secret')}`);
  });

  it('re-reads a token file on every request, relative to the kubeconfig', async () => {
    writeFileSync(join(dir, 'token'), 'first\n');
    const access = await loadKubeconfig(kubeconfig({ tokenFile: 'token', token: 'stale-inline' }), {});
    expect(access.auth).toEqual({ kind: 'tokenFile', path: join(dir, 'token') });
    expect(authorizationHeader(access)).toBe('Bearer first');
    writeFileSync(join(dir, 'token'), 'rotated');
    expect(authorizationHeader(access)).toBe('Bearer rotated');
  });

  it('reads client certificate and key from data or from files', async () => {
    const fromData = await loadKubeconfig(
      kubeconfig({ 'client-certificate-data': b64(PEM_CERT), 'client-key-data': b64(PEM_KEY) }),
      {},
    );
    expect(fromData.clientCert).toBe(PEM_CERT);
    expect(fromData.clientKey).toBe(PEM_KEY);
    expect(authorizationHeader(fromData)).toBeUndefined();

    writeFileSync(join(dir, 'client.crt'), PEM_CERT);
    writeFileSync(join(dir, 'client.key'), PEM_KEY);
    writeFileSync(join(dir, 'ca.crt'), PEM_CA);
    const fromFiles = await loadKubeconfig(
      kubeconfig(
        { 'client-certificate': 'client.crt', 'client-key': join(dir, 'client.key') },
        { 'certificate-authority': 'ca.crt' },
      ),
      {},
    );
    expect(fromFiles.clientCert).toBe(PEM_CERT);
    expect(fromFiles.clientKey).toBe(PEM_KEY);
    expect(fromFiles.ca).toBe(PEM_CA);
  });

  it('uses the only context when current-context is unset', async () => {
    const path = join(dir, 'kc');
    writeFileSync(
      path,
      JSON.stringify({
        clusters: [{ name: 'a', cluster: { server: 'http://127.0.0.1:8080/' } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'only', context: { cluster: 'a', user: 'u' } }],
      }),
    );
    expect((await loadKubeconfig(path, {})).server).toBe('http://127.0.0.1:8080');
  });

  it.each([
    ['a missing file', () => join(dir, 'absent'), /cannot read kubeconfig .*absent: ENOENT/],
    [
      'invalid YAML',
      () => (writeFileSync(join(dir, 'bad'), 'clusters: [\n  - {'), join(dir, 'bad')),
      /kubeconfig .*bad is not valid YAML/,
    ],
    [
      'a server that is not a URL',
      () => kubeconfig({ token: 't' }, { server: '10.0.0.1' }),
      /clusters\[local\]\.cluster\.server must be an http\(s\) URL/,
    ],
    [
      'an exec credential plugin',
      () => kubeconfig({ exec: { command: 'aws' } }),
      /users\[braid\]\.user\.exec is not supported/,
    ],
    [
      'a certificate without key',
      () => kubeconfig({ 'client-certificate-data': b64(PEM_CERT) }),
      /has a client certificate but no client-key/,
    ],
    [
      'CA data that is not PEM',
      () => kubeconfig({ token: 't' }, { 'certificate-authority-data': b64('nope') }),
      /certificate-authority-data is not base64-encoded PEM/,
    ],
    [
      'an unreadable CA file',
      () => kubeconfig({ token: 't' }, { 'certificate-authority': 'missing-ca.crt' }),
      /certificate-authority: cannot read .*missing-ca\.crt: ENOENT/,
    ],
    [
      'a missing token file',
      () => kubeconfig({ tokenFile: '/nonexistent/token' }),
      /cannot read token file \/nonexistent\/token/,
    ],
  ])('fails with code 7 naming the file and field for %s', async (_what, make, pattern) => {
    const path = make();
    const err = await cniError(() => loadKubeconfig(path, {}));
    expect(err.code).toBe(7);
    expect(err.message).toMatch(pattern);
    expect(err.message).toContain(path);
  });

  it('fails with code 7 when current-context names no context', async () => {
    const path = kubeconfig({ token: 't' });
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replace('"current-context":"braid-context"', '"current-context":"elsewhere"'),
    );
    const err = await cniError(() => loadKubeconfig(path, {}));
    expect(err.code).toBe(7);
    expect(err.message).toBe(
      `kubeconfig ${path}: current-context names context "elsewhere", which is not in "contexts"`,
    );
  });
});

describe('in-cluster access', () => {
  it('uses KUBERNETES_SERVICE_HOST/PORT and the service-account token file and CA', async () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    writeFileSync(join(dir, 'ca.crt'), PEM_CA);
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const access = await findKubeAccess('', env, { serviceAccountDir: dir });
    expect(access?.server).toBe('https://10.96.0.1:443');
    expect(access?.ca).toBe(PEM_CA);
    expect(access?.auth).toEqual({ kind: 'tokenFile', path: join(dir, 'token') });
    writeFileSync(join(dir, 'token'), 'sa-token-rotated');
    expect(authorizationHeader(access!)).toBe('Bearer sa-token-rotated');
  });

  it('brackets an IPv6 service host', async () => {
    writeFileSync(join(dir, 'token'), 't');
    writeFileSync(join(dir, 'ca.crt'), PEM_CA);
    const access = await findKubeAccess(
      undefined,
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      { serviceAccountDir: dir },
    );
    expect(access?.server).toBe('https://[fd00::1]:6443');
  });

  it('fails naming the missing service-account file', async () => {
    writeFileSync(join(dir, 'ca.crt'), PEM_CA);
    const err = await cniError(() =>
      findKubeAccess('', { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, { serviceAccountDir: dir }),
    );
    expect(err.code).toBe(7);
    expect(err.message).toContain(join(dir, 'token'));
  });

  it('prefers an explicit kubeconfig over the in-cluster environment', async () => {
    const path = kubeconfig({ token: 'file-token' });
    const access = await findKubeAccess(path, { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' });
    expect(access?.source).toBe(`kubeconfig ${path}`);
  });

  it('is undefined without kubeconfig or service environment, and loadKubeconfig says what to set', async () => {
    expect(await findKubeAccess('', {})).toBeUndefined();
    const err = await cniError(() => loadKubeconfig(undefined, {}));
    expect(err.code).toBe(7);
    expect(err.message).toMatch(/kubeconfig.*KUBERNETES_SERVICE_HOST/);
  });
});
