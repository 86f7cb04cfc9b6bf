import { describe, expect, it } from 'vitest';
import { loadBraidConf } from '../../../src/config/conf.ts';
import { failure } from '../../helpers/failure.ts';

const minimal = { cniVersion: '1.0.0', name: 'braid-network', type: 'braid', clusterNetwork: 'flannel' };

describe('loadBraidConf', () => {
  it("fills in the Multus defaults and braid's own", () => {
    const conf = loadBraidConf(minimal);
    expect(conf).toMatchObject({
      cniVersion: '1.0.0',
      name: 'braid-network',
      type: 'braid',
      clusterNetwork: 'flannel',
      confDir: '/etc/cni/multus/net.d',
      cniDir: '/var/lib/cni/braid',
      binDir: '/opt/cni/bin',
      multusNamespace: 'kube-system',
      systemNamespaces: ['kube-system'],
      globalNamespaces: ['default'],
      namespaceIsolation: false,
      logLevel: 'panic',
      logToStderr: true,
      retryDeleteOnError: true,
      delegateTimeoutMs: 60_000,
      podDir: '/etc/cni/braid/pods',
      nadDir: '/etc/cni/braid/nads',
      defaultNetworks: [],
      delegates: [],
      capabilities: {},
      runtimeConfig: {},
    });
    expect(conf.kubeconfig).toBeUndefined();
  });

  it('takes every key a Multus conf may set', () => {
    const conf = loadBraidConf({
      ...minimal,
      type: 'multus',
      confDir: '/c',
      cniDir: '/cache',
      binDir: '/bin',
      kubeconfig: '/etc/kube',
      defaultNetworks: ['sidecar'],
      multusNamespace: 'net',
      systemNamespaces: ['kube-system', 'ops'],
      namespaceIsolation: true,
      globalNamespaces: 'default, shared,infra',
      readinessindicatorfile: '/run/ready',
      logFile: '/var/log/braid.log',
      logLevel: 'DEBUG',
      logToStderr: false,
      logOptions: { maxAge: 1, maxSize: 10, maxBackups: 2, compress: false },
      capabilities: { portMappings: true, 'io.kubernetes.cri.pod-annotations': true },
      runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080 }] },
      retryDeleteOnError: false,
      auxiliaryCNIChainName: 'aux',
      delegateTimeout: 2.5,
    });
    expect(conf.globalNamespaces).toEqual(['default', 'shared', 'infra']);
    expect(conf.logLevel).toBe('debug');
    expect(conf.delegateTimeoutMs).toBe(2500);
    expect(conf.kubeconfig).toBe('/etc/kube');
    expect(conf.readinessindicatorfile).toBe('/run/ready');
    expect(conf.runtimeConfig).toEqual({ portMappings: [{ hostPort: 80, containerPort: 8080 }] });
    expect(conf.retryDeleteOnError).toBe(false);
    expect(conf.raw.auxiliaryCNIChainName).toBe('aux');
  });

  it('accepts globalNamespaces as a list and cacheDir as an alias of cniDir', () => {
    const conf = loadBraidConf({ ...minimal, globalNamespaces: ['a', 'b'], cacheDir: '/tmp/cache' });
    expect(conf.globalNamespaces).toEqual(['a', 'b']);
    expect(conf.cniDir).toBe('/tmp/cache');
    const err = failure(() => loadBraidConf({ ...minimal, cniDir: '/a', cacheDir: '/b' }));
    expect(err.message).toContain('"cniDir"');
    expect(err.message).toContain('"cacheDir"');
  });

  it('names the key and the allowed values when a value is wrong (strict; Multus only warns about logLevel)', () => {
    const err = failure(() => loadBraidConf({ ...minimal, strict: true, logLevel: 'loud' }));
    expect(err.code).toBe(7);
    expect(err.message).toBe('braid conf: "logLevel" must be one of panic, error, verbose, debug (got "loud")');
    const lenient = loadBraidConf({ ...minimal, logLevel: 'info' });
    expect(lenient.logLevel).toBe('panic');
    expect(lenient.compatWarnings).toEqual([{ field: 'logLevel', action: 'ignored: the level stays panic' }]);
  });

  it('explains a wrong globalNamespaces in the form that was used', () => {
    const listErr = failure(() => loadBraidConf({ ...minimal, globalNamespaces: ['ok', 'Bad'] }));
    expect(listErr.message).toMatch(/^braid conf: "globalNamespaces\[1\]" must be a DNS-1123 label .*\(got "Bad"\)$/);
    const stringErr = failure(() => loadBraidConf({ ...minimal, globalNamespaces: 'a;b' }));
    expect(stringErr.message).toBe(
      'braid conf: "globalNamespaces" must be a comma-separated list of namespaces (got "a;b")',
    );
    const typeErr = failure(() => loadBraidConf({ ...minimal, globalNamespaces: 5 }));
    expect(typeErr.message).toBe('braid conf: "globalNamespaces" must be a string or a list (got 5)');
  });

  it('reports every wrong key at once', () => {
    const err = failure(() =>
      loadBraidConf({ ...minimal, namespaceIsolation: 'yes', delegateTimeout: 0, systemNamespaces: ['Kube_System'] }),
    );
    expect(err.message).toContain('"namespaceIsolation" must be a boolean (got "yes")');
    expect(err.message).toContain('"delegateTimeout" must be > 0 (got 0)');
    expect(err.message).toContain('"systemNamespaces[0]" must be a DNS-1123 label');
  });

  it('takes parallelAttachments as a boolean, off by default (NPWG 7.3)', () => {
    expect(loadBraidConf(minimal).parallelAttachments).toBe(false);
    expect(loadBraidConf({ ...minimal, parallelAttachments: true }).parallelAttachments).toBe(true);
    for (const bad of ['true', 1, null, {}]) {
      const err = failure(() => loadBraidConf({ ...minimal, parallelAttachments: bad }));
      expect(err.code).toBe(7);
      expect(err.message).toContain('"parallelAttachments" must be a boolean');
    }
  });

  it('requires clusterNetwork or a non-empty delegates list', () => {
    const { clusterNetwork: _omit, ...noCluster } = minimal;
    const err = failure(() => loadBraidConf(noCluster));
    expect(err.code).toBe(7);
    expect(err.message).toContain('"clusterNetwork"');
    expect(err.message).toContain('"delegates"');
    expect(failure(() => loadBraidConf({ ...noCluster, delegates: [] })).message).toContain('"delegates"');
    const conf = loadBraidConf({ ...noCluster, delegates: [{ type: 'bridge', name: 'b' }] });
    expect(conf.delegates).toHaveLength(1);
  });

  it('checks that each inline delegate is a conf or a conflist', () => {
    const err = failure(() => loadBraidConf({ ...minimal, delegates: [{ name: 'x' }] }));
    expect(err.message).toContain('"delegates[0]" needs one of "type", "plugins"');
  });

  it("reads braid's keys from the braid plugin of a conflist, name and version from the list", () => {
    const conf = loadBraidConf({
      cniVersion: '1.1.0',
      name: 'outer',
      plugins: [
        { type: 'other', clusterNetwork: 'wrong' },
        { type: 'braid', clusterNetwork: 'flannel', logLevel: 'error' },
      ],
    });
    expect(conf).toMatchObject({
      name: 'outer',
      cniVersion: '1.1.0',
      type: 'braid',
      clusterNetwork: 'flannel',
      logLevel: 'error',
    });
  });

  it('falls back to the first plugin of a conflist without a braid plugin', () => {
    const conf = loadBraidConf({
      cniVersion: '1.0.0',
      name: 'outer',
      plugins: [{ type: 'multus', clusterNetwork: 'x' }],
    });
    expect(conf.type).toBe('multus');
  });

  it('lets unknown keys through, as Multus does', () => {
    const conf = loadBraidConf({ ...minimal, cniConf: '/etc/cni/multus/net.d', args: { cni: {} } });
    expect(conf.raw.cniConf).toBe('/etc/cni/multus/net.d');
  });
});
