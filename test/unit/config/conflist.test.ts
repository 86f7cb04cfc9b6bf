import { describe, expect, it } from 'vitest';
import { injectName, parseNetworkConfig } from '../../../src/cni/conflist.ts';
import { failure } from '../../helpers/failure.ts';

const bridge = { cniVersion: '1.0.0', name: 'net-a', type: 'bridge', bridge: 'br0' };

describe('parseNetworkConfig', () => {
  it('turns a .conf into a one-plugin list and keeps the bytes exactly', () => {
    const bytes = `{ "cniVersion": "0.4.0",  "name": "net-a", "type": "macvlan", "x-unknown": [1, 2] }`;
    const list = parseNetworkConfig(bytes, '/etc/cni/net.d/a.conf');
    expect(list).toMatchObject({ name: 'net-a', cniVersion: '0.4.0', disableCheck: false, disableGC: false });
    expect(list.plugins).toHaveLength(1);
    expect(list.plugins[0]).toMatchObject({ type: 'macvlan', 'x-unknown': [1, 2] });
    expect(list.bytes).toBe(bytes);
  });

  it('keeps the plugins of a conflist in order', () => {
    const doc = { cniVersion: '1.0.0', name: 'chain', plugins: [{ type: 'bridge' }, { type: 'tuning' }, { type: 'portmap' }] };
    const list = parseNetworkConfig(JSON.stringify(doc), 'f');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'tuning', 'portmap']);
  });

  it('picks the highest usable version of cniVersion and cniVersions (I2)', () => {
    const doc = { cniVersion: '0.3.1', cniVersions: ['0.4.0', '1.0.0', '2.0.0'], name: 'n', plugins: [{ type: 'x' }] };
    expect(parseNetworkConfig(JSON.stringify(doc), 'f').cniVersion).toBe('1.0.0');
    const newest = { cniVersions: ['1.1.0', '0.4.0'], name: 'n', plugins: [{ type: 'x' }] };
    expect(parseNetworkConfig(JSON.stringify(newest), 'f').cniVersion).toBe('1.1.0');
  });

  it('treats an absent cniVersion as 0.1.0', () => {
    expect(parseNetworkConfig('{"name":"n","type":"x"}', 'f').cniVersion).toBe('0.1.0');
  });

  it('rejects a cniVersion that is not a version, naming the field and the source', () => {
    const err = failure(() => parseNetworkConfig(JSON.stringify({ ...bridge, cniVersion: 'latest' }), 'NAD ns/a'));
    expect(err.code).toBe(7);
    expect(err.message).toContain('NAD ns/a');
    expect(err.message).toContain('"cniVersion"');
    const listErr = failure(() =>
      parseNetworkConfig(JSON.stringify({ name: 'n', cniVersions: ['1.0.0', 'v2'], plugins: [{ type: 'x' }] }), 'f'),
    );
    expect(listErr.message).toContain('"cniVersions[1]"');
  });

  it('rejects a configuration whose only versions are newer than 1.1.0', () => {
    const err = failure(() => parseNetworkConfig(JSON.stringify({ ...bridge, cniVersion: '2.0.0' }), 'f'));
    expect(err.code).toBe(7);
    expect(err.message).toContain('2.0.0');
  });

  it('reads booleans as JSON booleans or "true"/"false" in any case (I3)', () => {
    const doc = { name: 'n', cniVersion: '1.1.0', disableCheck: 'TRUE', disableGC: 'False', plugins: [{ type: 'x' }] };
    const list = parseNetworkConfig(JSON.stringify(doc), 'f');
    expect(list.disableCheck).toBe(true);
    expect(list.disableGC).toBe(false);
    const err = failure(() => parseNetworkConfig(JSON.stringify({ ...doc, disableCheck: 'yes' }), 'f'));
    expect(err.message).toContain('"disableCheck"');
  });

  it('rejects an empty plugin list and plugins without a usable type', () => {
    expect(failure(() => parseNetworkConfig('{"name":"n","cniVersion":"1.0.0","plugins":[]}', 'f')).message).toContain(
      '"plugins" must not be empty',
    );
    const slash = failure(() =>
      parseNetworkConfig('{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"bridge"},{"type":"../evil"}]}', 'f'),
    );
    expect(slash.message).toContain('"plugins[1].type"');
    const backslash = failure(() => parseNetworkConfig('{"name":"n","type":"a\\\\b"}', 'f'));
    expect(backslash.message).toContain('"type"');
    expect(failure(() => parseNetworkConfig('{"name":"n","type":""}', 'f')).message).toContain('"type"');
    expect(failure(() => parseNetworkConfig('{"name":"n","cniVersion":"1.0.0"}', 'f')).message).toContain('"plugins"');
  });

  it('checks the network name (A5)', () => {
    expect(failure(() => parseNetworkConfig('{"name":"bad/name","type":"x"}', 'f')).message).toContain('"name"');
    expect(failure(() => parseNetworkConfig('{"type":"x"}', 'f')).message).toContain('"name"');
  });

  it('reports invalid JSON as code 7 naming the source', () => {
    const err = failure(() => parseNetworkConfig('{"name":', '/etc/cni/net.d/broken.conf'));
    expect(err.code).toBe(7);
    expect(err.message).toContain('/etc/cni/net.d/broken.conf');
  });
});

describe('injectName', () => {
  it('adds the name to a config without one and keeps every other byte', () => {
    const bytes = '{\n  "cniVersion": "0.3.1",\n  "type": "macvlan"\n}';
    const out = injectName(bytes, 'macvlan-conf');
    expect(JSON.parse(out)).toEqual({ name: 'macvlan-conf', cniVersion: '0.3.1', type: 'macvlan' });
    expect(out.endsWith('"cniVersion": "0.3.1",\n  "type": "macvlan"\n}')).toBe(true);
    expect(JSON.parse(injectName(' {}', 'x'))).toEqual({ name: 'x' });
  });

  it('leaves a config that has a name, or is not JSON, unchanged', () => {
    const named = JSON.stringify(bridge);
    expect(injectName(named, 'other')).toBe(named);
    expect(injectName('not json', 'x')).toBe('not json');
  });
});
