import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertResult, parseResult, resultToVersion } from '../../../src/cni/convert.ts';
import { ALL_KNOWN_VERSIONS, resultFamily } from '../../../src/cni/versions.ts';
import { failure } from '../../helpers/failure.ts';

const golden = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'golden', file), 'utf8')) as Record<string, unknown>;

// Golden wire forms of one dual-stack result with every field, per result family, and the
// expected output of each family-to-family conversion (test/unit/cni/golden/*.json).
const pairs = ALL_KNOWN_VERSIONS.flatMap((from) => ALL_KNOWN_VERSIONS.map((to) => [from, to] as const));

describe('L1-L5 golden conversions for every version pair', () => {
  it.each(pairs)('%s -> %s', (from, to) => {
    const input = { ...golden(`input-${resultFamily(from)}.json`), cniVersion: from };
    const expected = { ...golden(`${resultFamily(from)}-to-${resultFamily(to)}.json`), cniVersion: to };
    expect(convertResult(input, from, to)).toStrictEqual(expected);
  });

  it('round-trips 1.1.0 through canonical unchanged', () => {
    const r = golden('input-100.json');
    expect(resultToVersion(parseResult(r, '1.1.0'), '1.1.0')).toStrictEqual(r);
  });
});

describe('L1 version families', () => {
  it('rejects an unknown target version with code 1', () => {
    const r = parseResult(golden('input-100.json'), '1.1.0');
    expect(failure(() => resultToVersion(r, '2.0.0')).code).toBe(1);
  });

  it('rejects a result of an unknown version with code 1', () => {
    expect(failure(() => parseResult({ cniVersion: '9.9.9', ips: [] }, '1.0.0')).code).toBe(1);
  });
});

describe('L2 1.0.0 <-> 1.1.0', () => {
  it('changes only the label', () => {
    const r = golden('input-100.json');
    expect(convertResult(r, '1.1.0', '1.0.0')).toStrictEqual({ ...r, cniVersion: '1.0.0' });
  });
});

describe('L3 1.x -> 0.3.x/0.4.0', () => {
  it('adds ips[].version from the address family', () => {
    const out = convertResult(
      { cniVersion: '1.0.0', ips: [{ address: 'fd00::1/64' }, { address: '10.0.0.1/8' }] },
      '1.0.0',
      '0.3.1',
    );
    expect(out.ips).toEqual([
      { version: '6', address: 'fd00::1/64' },
      { version: '4', address: '10.0.0.1/8' },
    ]);
  });

  it('drops ips[].version on the way back', () => {
    const r = parseResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.1/8' }] }, '0.4.0');
    expect(r.ips).toStrictEqual([{ address: '10.0.0.1/8' }]);
  });
});

describe('L5 down to 0.2.0', () => {
  it('refuses a result without addresses', () => {
    const e = failure(() => convertResult({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }, '1.0.0', '0.2.0'));
    expect(e.message).toMatch(/^cannot convert: no valid IP addresses/);
  });

  it('drops routes of a family without an address', () => {
    const out = convertResult(
      {
        cniVersion: '1.0.0',
        ips: [{ address: '10.0.0.2/24' }],
        routes: [{ dst: '::/0' }, { dst: '0.0.0.0/0', gw: '10.0.0.1' }],
      },
      '1.0.0',
      '0.2.0',
    );
    expect(out).toStrictEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.0.0.2/24', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] },
    });
  });
});

describe('K1 result structure', () => {
  it('drops keys the result type does not have', () => {
    const r = parseResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', extra: 1 }], vendor: 'x' }, '1.0.0');
    expect(r).toStrictEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
  });

  it.each([
    [{ ips: [{ address: '10.0.0.2' }] }, 'ips[0].address'],
    [{ ips: [{ address: '10.0.0.300/24' }] }, 'ips[0].address'],
    [{ ips: [{ address: '10.0.0.2/33' }] }, 'ips[0].address'],
    [{ ips: [{ address: 'fd00::1/129' }] }, 'ips[0].address'],
    [{ ips: [{ address: '10.0.0.2/24', gateway: 'x' }] }, 'ips[0].gateway'],
    [{ routes: [{ gw: '10.0.0.1' }] }, 'routes[0].dst'],
    [{ routes: [{ dst: '0.0.0.0/0', mtu: -1 }] }, 'routes[0].mtu'],
    [{ interfaces: [{ mac: 'aa:bb:cc:dd:ee:ff' }] }, 'interfaces[0].name'],
    [{ interfaces: {} }, 'interfaces'],
    [{ dns: { nameservers: 'x' } }, 'dns.nameservers'],
  ])('rejects %j with code 6 naming %s', (body, path) => {
    const e = failure(() => parseResult({ cniVersion: '1.0.0', ...body }, '1.0.0'));
    expect(e.code).toBe(6);
    expect(e.message).toContain(path);
  });

  it.each([null, [], 'x', 3])('rejects a non-object result %j', (v) => {
    expect(failure(() => parseResult(v, '1.0.0')).code).toBe(6);
  });
});

describe('K2 ips[].interface', () => {
  it('must index an interface of the same result', () => {
    const e = failure(() =>
      parseResult(
        { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 1 }] },
        '1.0.0',
      ),
    );
    expect(e.code).toBe(6);
    expect(e.message).toContain('ips[0].interface is 1 but the result lists 1 interface(s)');
  });

  it('is accepted in range', () => {
    const r = parseResult(
      { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 0 }] },
      '1.0.0',
    );
    expect(r.ips?.[0]?.interface).toBe(0);
  });
});

describe('K3/K4 IPAM results (host-local 1.1.1 output)', () => {
  it('accepts a result without interfaces and with an empty dns object', () => {
    const hostLocal = {
      cniVersion: '1.0.0',
      ips: [
        { address: '10.77.0.2/24', gateway: '10.77.0.1' },
        { address: 'fd77::2/64', gateway: 'fd77::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    };
    const r = parseResult(hostLocal, '1.0.0');
    expect(r.interfaces).toBeUndefined();
    expect(resultToVersion(r, '1.0.0')).toStrictEqual(hostLocal);
  });
});

describe('K5 result without cniVersion', () => {
  it('is read as the config version', () => {
    expect(parseResult({ ips: [{ version: '4', address: '10.0.0.2/24' }] }, '0.4.0').cniVersion).toBe('0.4.0');
    expect(parseResult({ ip4: { ip: '10.0.0.2/24' } }, '0.2.0').ips).toEqual([{ address: '10.0.0.2/24' }]);
  });
});

describe('K6 0.1.0/0.2.0 results', () => {
  it('reads host-local output for a config without cniVersion', () => {
    const r = parseResult({ cniVersion: '0.1.0', ip4: { ip: '10.77.0.3/24', gateway: '10.77.0.1' }, dns: {} }, '0.1.0');
    expect(r).toStrictEqual({ cniVersion: '0.1.0', ips: [{ address: '10.77.0.3/24', gateway: '10.77.0.1' }], dns: {} });
  });

  it('reads an empty version as 0.1.0', () => {
    expect(parseResult({ cniVersion: '', ip4: { ip: '10.0.0.2/24' } }, '').ips).toHaveLength(1);
  });
});

describe('C2 pass-through fidelity', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('a %s prevResult survives parse + write unchanged', (v) => {
    const wire = { ...golden(`input-${resultFamily(v)}.json`), cniVersion: v };
    expect(resultToVersion(parseResult(wire, v), v)).toStrictEqual(wire);
  });
});
