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
    const doc = {
      cniVersion: '1.0.0',
      name: 'chain',
      plugins: [{ type: 'bridge' }, { type: 'tuning' }, { type: 'portmap' }],
    };
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

  it('reads booleans as JSON booleans or "true"/"false" in any case (I3)', () => {
    const doc = { name: 'n', cniVersion: '1.1.0', disableCheck: 'TRUE', disableGC: 'False', plugins: [{ type: 'x' }] };
    const list = parseNetworkConfig(JSON.stringify(doc), 'f');
    expect(list.disableCheck).toBe(true);
    expect(list.disableGC).toBe(false);
  });

  // Each bad input fails with code 7 (invalid configuration), naming the field and where the conf came from.
  it.each<{ what: string; conf: string; says: string }>([
    {
      what: 'a cniVersion that is not a version',
      conf: JSON.stringify({ ...bridge, cniVersion: 'latest' }),
      says: '"cniVersion"',
    },
    {
      what: 'a cniVersions entry that is not a version',
      conf: JSON.stringify({ name: 'n', cniVersions: ['1.0.0', 'v2'], plugins: [{ type: 'x' }] }),
      says: '"cniVersions[1]"',
    },
    { what: 'only versions newer than 1.1.0', conf: JSON.stringify({ ...bridge, cniVersion: '2.0.0' }), says: '2.0.0' },
    {
      what: 'a boolean that is neither true nor false (I3)',
      conf: JSON.stringify({ name: 'n', cniVersion: '1.1.0', disableCheck: 'yes', plugins: [{ type: 'x' }] }),
      says: '"disableCheck"',
    },
    {
      what: 'an empty plugin list',
      conf: '{"name":"n","cniVersion":"1.0.0","plugins":[]}',
      says: '"plugins" must not be empty',
    },
    {
      what: 'a plugin type with a slash',
      conf: '{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"bridge"},{"type":"../evil"}]}',
      says: '"plugins[1].type"',
    },
    { what: 'a type with a backslash', conf: '{"name":"n","type":"a\\\\b"}', says: '"type"' },
    { what: 'an empty type', conf: '{"name":"n","type":""}', says: '"type"' },
    { what: 'neither type nor plugins', conf: '{"name":"n","cniVersion":"1.0.0"}', says: '"plugins"' },
    { what: 'a network name with a slash (A5)', conf: '{"name":"bad/name","type":"x"}', says: '"name"' },
    { what: 'no network name (A5)', conf: '{"type":"x"}', says: '"name"' },
    { what: 'invalid JSON', conf: '{"name":', says: 'NAD ns/a' },
  ])('rejects $what with code 7', ({ conf, says }) => {
    const err = failure(() => parseNetworkConfig(conf, 'NAD ns/a'));
    expect(err.code).toBe(7);
    expect(err.message).toContain(says);
    expect(err.message).toContain('NAD ns/a');
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
