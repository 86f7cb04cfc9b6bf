import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ipArgs, netnsName, parseIpJson, type Netns } from '../helpers/netns.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

describe('netnsName', () => {
  it('is the prefix and 8 random hex digits, so scripts/test.sh can spot leftovers', () => {
    expect(netnsName()).toMatch(/^braid-t-[0-9a-f]{8}$/);
    expect(netnsName('braid-t-veth')).toMatch(/^braid-t-veth-[0-9a-f]{8}$/);
  });

  it('does not repeat', () => {
    const names = new Set(Array.from({ length: 200 }, () => netnsName()));
    expect(names.size).toBe(200);
  });
});

describe('ipArgs', () => {
  it('addresses a test namespace with -n and the own namespace without', () => {
    const ns = { name: 'braid-t-1234abcd' } as Netns;
    expect(ipArgs(ns, ['link', 'show'])).toEqual(['ip', '-n', 'braid-t-1234abcd', 'link', 'show']);
    expect(ipArgs(null, ['link', 'show'])).toEqual(['ip', 'link', 'show']);
  });
});

describe('parseIpJson', () => {
  it('parses ip -j output and treats an empty answer as an empty list', () => {
    expect(parseIpJson('[{"ifname":"lo"}]\n')).toEqual([{ ifname: 'lo' }]);
    expect(parseIpJson('')).toEqual([]);
    expect(parseIpJson('\n')).toEqual([]);
  });
});

describe('makeTempDir / cleanupTemps', () => {
  it('makes distinct directories and removes them all', () => {
    const a = makeTempDir('braid-t-unit');
    const b = makeTempDir('braid-t-unit');
    expect(a).not.toBe(b);
    expect(existsSync(a) && existsSync(b)).toBe(true);

    cleanupTemps();

    expect(existsSync(a) || existsSync(b)).toBe(false);
  });
});
