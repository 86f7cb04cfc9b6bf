import { STAT_NAMES, zeroStats, type Stats } from '../policy/layout.ts';
import type { PolicyMaps } from '../policy/maps.ts';
import { listRecords, type IfaceRecord } from '../policy/registry.ts';
import { openMapsIfLoaded, stateDirOf, type PolicyRuntimeOptions } from '../policy/runtime.ts';
import type { Labels, Registry } from './metrics.ts';

/**
 * Policy datapath state for Prometheus, read from the pinned maps when scraped: per-interface
 * verdict counters (summed over CPUs) and how full each map is. One read serves every family of
 * a scrape. Without loaded maps (no policy datapath on this node) the families are empty.
 */
interface Snapshot {
  at: number;
  interfaces: { rec: IfaceRecord; stats: [Stats, Stats] }[];
  fill: { map: string; entries: number; capacity: number }[];
}

const DIRECTIONS = ['ingress', 'egress'] as const;
const SNAPSHOT_TTL_MS = 1_000;

function sumPerCpu(maps: PolicyMaps, ifaceId: number, dir: number): Stats {
  const total = zeroStats();
  for (const s of maps.stats.lookupPerCpu({ ifaceId, dir }) ?? []) {
    for (const k of STAT_NAMES) total[k] += s[k];
  }
  return total;
}

function readSnapshot(opts: PolicyRuntimeOptions): Snapshot {
  const snap: Snapshot = { at: Date.now(), interfaces: [], fill: [] };
  const maps = openMapsIfLoaded(opts.bpfRoot);
  if (!maps) return snap;
  try {
    for (const rec of listRecords(stateDirOf(opts))) {
      snap.interfaces.push({ rec, stats: [sumPerCpu(maps, rec.ifaceId, 0), sumPerCpu(maps, rec.ifaceId, 1)] });
    }
    const fill = (map: string, m: { keys(): unknown[]; info: { maxEntries: number } }) =>
      snap.fill.push({ map, entries: m.keys().length, capacity: m.info.maxEntries });
    fill('iface', maps.iface);
    fill('conntrack', maps.ct);
    fill('stats', maps.stats);
    // Datagrams whose first fragment was seen and whose later fragments may still come.
    if (maps.frag) fill('fragments', maps.frag);
    for (const [kind, outer] of Object.entries(maps.outer)) fill(`${kind}_tries`, outer);
  } finally {
    maps.close();
  }
  return snap;
}

function ifaceLabels(rec: IfaceRecord, direction: string): Labels {
  return { namespace: rec.pod.namespace, pod: rec.pod.name, interface: rec.ifname, network: rec.network, direction };
}

export function registerPolicyMetrics(registry: Registry, opts: PolicyRuntimeOptions): void {
  let cached: Snapshot | undefined;
  const snapshot = (): Snapshot => {
    if (!cached || Date.now() - cached.at > SNAPSHOT_TTL_MS) cached = readSnapshot(opts);
    return cached;
  };
  const perInterface = (pick: (s: Stats) => [Labels, bigint][]) => (): [Labels, number][] =>
    snapshot().interfaces.flatMap(({ rec, stats }) =>
      stats.flatMap((s, dir) =>
        pick(s).map(([extra, v]): [Labels, number] => [{ ...ifaceLabels(rec, DIRECTIONS[dir]!), ...extra }, Number(v)]),
      ),
    );
  registry.counter(
    'braid_policy_packets_total',
    'Packets the policy programs passed or dropped, per pod interface, direction and verdict.',
    perInterface((s) => [
      [{ verdict: 'allowed' }, s.allowedPackets],
      [{ verdict: 'denied' }, s.deniedPackets],
    ]),
  );
  registry.counter(
    'braid_policy_bytes_total',
    'Bytes the policy programs passed or dropped, per pod interface, direction and verdict.',
    perInterface((s) => [
      [{ verdict: 'allowed' }, s.allowedBytes],
      [{ verdict: 'denied' }, s.deniedBytes],
    ]),
  );
  registry.counter(
    'braid_policy_verdict_reasons_total',
    'Policy verdicts per pod interface, direction and reason (allowPolicy, denyPolicy, allowEstablished, ...).',
    perInterface((s) =>
      STAT_NAMES.filter((n) => n.startsWith('allow') || n.startsWith('deny') || n === 'ctCreated')
        .filter((n) => !n.endsWith('Packets') && !n.endsWith('Bytes'))
        .map((n): [Labels, bigint] => [{ reason: n }, s[n]]),
    ),
  );
  registry.gauge(
    'braid_policy_map_entries',
    'Entries in each pinned policy map (for the *_tries maps: interfaces and directions with a trie).',
    () => snapshot().fill.map((f): [Labels, number] => [{ map: f.map }, f.entries]),
  );
  registry.gauge('braid_policy_map_capacity', 'max_entries of each pinned policy map.', () =>
    snapshot().fill.map((f): [Labels, number] => [{ map: f.map }, f.capacity]),
  );
}
