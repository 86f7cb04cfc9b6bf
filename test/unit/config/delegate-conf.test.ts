import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import {
  findConfByName,
  inlineDelegate,
  loadConfFile,
  networkConfigFromNad,
  resolveNetworkReference,
} from '../../../src/config/delegate-conf.ts';
import type { NadSource } from '../../../src/k8s/sources.ts';
import type { NetworkAttachmentDefinition } from '../../../src/k8s/types.ts';
import { failure } from '../../helpers/failure.ts';
import { cniRejection } from '../../helpers/cni-error.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'braid-delegate-conf-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: unknown): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function nad(name: string, config?: string, namespace = 'team-a'): NetworkAttachmentDefinition {
  const out: NetworkAttachmentDefinition = {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name, namespace },
  };
  if (config !== undefined) out.spec = { config };
  return out;
}

const rejection = cniRejection;

class MapNads implements NadSource {
  readonly kind = 'test NADs';
  constructor(private readonly nads: Record<string, NetworkAttachmentDefinition>) {}
  async getNad(namespace: string, name: string) {
    return this.nads[`${namespace}/${name}`];
  }
}

const conf = (name: string, type = 'bridge') => ({ cniVersion: '1.0.0', name, type });
const conflist = (name: string) => ({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }, { type: 'tuning' }] });

describe('networkConfigFromNad', () => {
  it('uses spec.config and injects the NAD name when it has none (NPWG 3.4.2)', () => {
    const list = networkConfigFromNad(nad('macvlan-conf', '{"cniVersion":"0.3.1","type":"macvlan"}'), dir);
    expect(list.name).toBe('macvlan-conf');
    expect(JSON.parse(list.bytes)).toEqual({ name: 'macvlan-conf', cniVersion: '0.3.1', type: 'macvlan' });
  });

  it('keeps the spec.config bytes and name when it has one', () => {
    const config = JSON.stringify(conflist('other-name'), null, 2);
    const list = networkConfigFromNad(nad('my-nad', config), dir);
    expect(list.name).toBe('other-name');
    expect(list.bytes).toBe(config);
    expect(list.plugins).toHaveLength(2);
  });

  it('falls back to a .conflist in confDir with the NAD name, before a .conf (NPWG 3.4.1)', () => {
    write('10-a.conf', conf('shared', 'macvlan'));
    write('20-b.conflist', conflist('shared'));
    write('30-c.conf', conf('unrelated'));
    const list = networkConfigFromNad(nad('shared'), dir);
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'tuning']);
    expect(networkConfigFromNad(nad('unrelated', '  '), dir).name).toBe('unrelated');
  });

  it('finds .json files too', () => {
    write('a.json', conf('from-json'));
    expect(networkConfigFromNad(nad('from-json'), dir).plugins[0]?.type).toBe('bridge');
  });

  it('fails naming the NAD, the directory and the name when nothing matches', () => {
    write('broken.conf', '{ nope');
    const err = failure(() => networkConfigFromNad(nad('missing'), dir));
    expect(err.code).toBe(7);
    expect(err.message).toContain(`NAD team-a/missing has no spec.config and no file in ${dir} has name "missing"`);
    expect(err.message).toContain('broken.conf');
  });

  it('reports an invalid spec.config naming the NAD', () => {
    const err = failure(() => networkConfigFromNad(nad('bad', '{"type":"a/b"}'), dir));
    expect(err.message).toContain('NAD team-a/bad');
    expect(err.message).toContain('"type"');
  });
});

describe('findConfByName and loadConfFile', () => {
  it('returns undefined for an unknown name or a missing directory', () => {
    write('a.conf', conf('a'));
    expect(findConfByName(dir, 'b')).toBeUndefined();
    expect(findConfByName(join(dir, 'nope'), 'a')).toBeUndefined();
    expect(findConfByName(dir, 'a')?.name).toBe('a');
  });

  it('appends <dir>/<name>/*.conf plugins to a conflist file unless loadOnlyInlinedPlugins (I4)', () => {
    const path = write('net.conflist', { cniVersion: '1.1.0', name: 'net', plugins: [{ type: 'bridge' }] });
    write('net/20-second.conf', { type: 'portmap' });
    write('net/10-first.conf', { type: 'tuning' });
    expect(loadConfFile(path).plugins.map((p) => p.type)).toEqual(['bridge', 'tuning', 'portmap']);
    const inlined = write('net.conflist', {
      cniVersion: '1.1.0',
      name: 'net',
      loadOnlyInlinedPlugins: true,
      plugins: [{ type: 'bridge' }],
    });
    expect(loadConfFile(inlined).plugins.map((p) => p.type)).toEqual(['bridge']);
  });

  it('names the file when it is missing or broken', () => {
    expect(failure(() => loadConfFile(join(dir, 'gone.conf'))).message).toContain('gone.conf');
    const broken = write('x.conf', '[]');
    const err = failure(() => loadConfFile(broken));
    expect(err.code).toBe(7);
    expect(err.message).toContain(broken);
  });
});

describe('resolveNetworkReference', () => {
  const base = () => ({ confDir: dir, namespace: 'kube-system', key: 'clusterNetwork' });

  it('prefers a NAD in multusNamespace', async () => {
    write('flannel.conf', conf('flannel', 'flannel'));
    const nadSource = new MapNads({
      'kube-system/flannel': nad('flannel', '{"cniVersion":"1.0.0","type":"bridge"}', 'kube-system'),
    });
    const r = await resolveNetworkReference('flannel', { ...base(), nadSource });
    expect(r.network).toBe('kube-system/flannel');
    expect(r.list.plugins[0]?.type).toBe('bridge');
  });

  it('accepts ns/name for a NAD in another namespace', async () => {
    const nadSource = new MapNads({ 'net/sriov': nad('sriov', '{"cniVersion":"1.0.0","type":"sriov"}', 'net') });
    expect((await resolveNetworkReference('net/sriov', { ...base(), nadSource })).network).toBe('net/sriov');
  });

  it('then a CNI network name in confDir', async () => {
    write('10-flannel.conflist', conflist('cbr0'));
    const r = await resolveNetworkReference('cbr0', { ...base(), nadSource: new MapNads({}) });
    expect(r.network).toBe('cbr0');
    expect(r.list.plugins).toHaveLength(2);
  });

  it('then a directory, using its alphabetically first configuration file', async () => {
    write('net.d/20-b.conf', conf('second'));
    write('net.d/10-a.conflist', conflist('first'));
    write('net.d/README', 'not a conf');
    const r = await resolveNetworkReference(join(dir, 'net.d'), base());
    expect(r.network).toBe('first');
  });

  it('then a file path', async () => {
    const path = write('x/primary.conf', conf('primary'));
    expect((await resolveNetworkReference(path, base())).list.name).toBe('primary');
  });

  it('keeps looking at files when the NAD source fails, and names every attempt when nothing matches', async () => {
    const failing: NadSource = {
      kind: 'kubernetes',
      getNad: async () => {
        throw new CniError(11, 'API server unavailable');
      },
    };
    write('cbr0.conf', conf('cbr0'));
    expect((await resolveNetworkReference('cbr0', { ...base(), nadSource: failing })).network).toBe('cbr0');
    const err = await rejection(resolveNetworkReference('missing', { ...base(), nadSource: failing }));
    expect(err.code).toBe(7);
    expect(err.message).toContain('clusterNetwork "missing"');
    expect(err.message).toContain('API server unavailable');
    expect(err.message).toContain(`no file in ${dir} has name "missing"`);
  });

  it('names the key when a directory has no configuration files', async () => {
    mkdirSync(join(dir, 'empty'));
    const err = await rejection(resolveNetworkReference(join(dir, 'empty'), { ...base(), key: 'defaultNetworks[0]' }));
    expect(err.message).toContain('defaultNetworks[0]');
    expect(err.message).toContain('has no .conf');
  });
});

describe('inlineDelegate', () => {
  it('fills in the conf cniVersion when the delegate has none', () => {
    expect(inlineDelegate({ name: 'd', type: 'bridge' }, '1.0.0', 0).cniVersion).toBe('1.0.0');
    expect(inlineDelegate({ name: 'd', type: 'bridge', cniVersion: '0.4.0' }, '1.0.0', 0).cniVersion).toBe('0.4.0');
    expect(failure(() => inlineDelegate({ type: 'bridge' }, '1.0.0', 2)).message).toContain('delegates[2]');
  });
});
