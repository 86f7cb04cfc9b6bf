import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileInterface } from '../../src/policy/compile.ts';
import { TRIE_KINDS, scopeOf } from '../../src/policy/layout.ts';
import type { PolicyMaps } from '../../src/policy/maps.ts';
import { parsePolicyDocuments } from '../../src/policy/parse.ts';
import { applyState, desiredState, removeInterfaceState, type DesiredState } from '../../src/policy/reconcile.ts';
import { ShadowStore } from '../../src/policy/shadow.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';
import { mnp, pod, view } from '../unit/policy/fixtures.ts';
import { buildBpfObjects, isRoot } from './env.ts';
import { createHarness, type Harness, type TestIface } from './mnp-harness.ts';

const server = pod('app', 'server', {}, { 'app/net1': ['10.1.0.10'] });
const cluster = view([server]);
const blocks = (from: number, n: number) =>
  mnp(
    'p',
    'app',
    'net1',
    `podSelector: {}\ningress:\n- from: [${Array.from({ length: n }, (_, i) => `{ipBlock: {cidr: 10.${from + i}.0.0/16}}`).join(', ')}]\n  ports: [{port: 80}, {port: ${1000 + from}, endPort: ${1100 + from}}]`,
  );

/** What the kernel holds for the interface, as the reconciler encodes it. */
function kernelState(maps: PolicyMaps, ifaceId: number): string {
  const out: string[] = [];
  for (const dir of [0, 1]) {
    for (const kind of TRIE_KINDS) {
      const trie = maps.openTrie(kind, scopeOf(ifaceId, dir));
      const entries = trie ? trie.entries().map(([k, v]) => `${dir}${kind}${k.toString('hex')}=${v}`) : [];
      trie?.close();
      out.push(...entries.sort());
    }
  }
  return out.join('\n');
}

/** Entries to write and to remove when going from `a` (nothing: undefined) to `b`. */
function diff(a: DesiredState | undefined, b: DesiredState): { written: number; deleted: number } {
  let written = 0;
  let deleted = 0;
  for (const dir of [0, 1]) {
    for (const kind of TRIE_KINDS) {
      const before = a?.tries[dir]?.[kind] ?? new Map<string, bigint>();
      const after = b.tries[dir]![kind];
      for (const [k, v] of after) if (before.get(k) !== v) written++;
      for (const k of before.keys()) if (!after.has(k)) deleted++;
    }
  }
  return { written, deleted };
}

function expected(d: DesiredState): string {
  const out: string[] = [];
  for (const dir of [0, 1])
    for (const kind of TRIE_KINDS)
      out.push(...[...d.tries[dir]![kind]].map(([k, v]) => `${dir}${kind}${k}=${v}`).sort());
  return out.join('\n');
}

describe.skipIf(!isRoot)('reconciler against the kernel maps', () => {
  let h: Harness | undefined;
  let t: TestIface;
  beforeAll(() => buildBpfObjects());
  afterEach(() => {
    h?.destroy();
    h = undefined;
    cleanupTemps();
  });
  const desired = (yaml: string) =>
    desiredState(
      t.ifaceId,
      compileInterface(parsePolicyDocuments(yaml, 't').policies, cluster, { pod: server, network: 'app/net1' }),
      0,
    );

  it('writes only what differs, with or without a shadow, and recovers from a dirty shadow', () => {
    h = createHarness();
    t = h.iface(server, 'app/net1');
    const shadows = new ShadowStore(makeTempDir('braid-t-shadow'));
    const a = desired(blocks(0, 50));
    expect(applyState(h.maps, t.key, a, false, shadows)).toMatchObject(diff(undefined, a));
    expect(kernelState(h.maps, t.ifaceId)).toBe(expected(a));
    const b = desired(blocks(10, 50));
    const viaShadow = applyState(h.maps, t.key, b, false, shadows);
    expect(viaShadow).toMatchObject({ changed: true, ...diff(a, b) });
    expect(diff(a, b).written).toBeLessThan(b.tries[0]!.peer4.size); // not a rewrite of everything
    expect(kernelState(h.maps, t.ifaceId)).toBe(expected(b));
    shadows.markDirty(t.ifaceId); // as if the last update was interrupted
    const c = desired(blocks(20, 40));
    expect(applyState(h.maps, t.key, c, false, shadows)).toMatchObject({ changed: true, ...diff(b, c) });
    expect(kernelState(h.maps, t.ifaceId)).toBe(expected(c));
    expect(applyState(h.maps, t.key, c, false, shadows)).toMatchObject({ changed: false });
    expect(h.maps.iface.lookup(t.key)!.gen).toBe(3);
    removeInterfaceState(h.maps, t.key, t.ifaceId);
    expect(kernelState(h.maps, t.ifaceId)).toBe('');
    expect(h.maps.iface.lookup(t.key)).toBeUndefined();
  });
});
