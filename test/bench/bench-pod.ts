import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Debian's containernetworking-plugins: the delegates every bench runs. */
export const PLUGINS = '/usr/lib/cni';

/**
 * The pod of the overhead benchmarks (braid-overhead, agent-overhead, front-door): a bridge cluster
 * network plus three macvlan networks on `mvmaster0`, their host-local reservations under `tmp`.
 */
export function benchPodConfs(tmp: string) {
  const hostLocal = (subnet: string, name: string) => ({
    type: 'host-local',
    dataDir: path.join(tmp, 'ipam'),
    ranges: [[{ subnet }]],
    name,
  });
  const bridgeConf = {
    cniVersion: '1.0.0',
    name: 'bench-cluster',
    plugins: [
      { type: 'bridge', bridge: 'benchbr0', isGateway: true, ipam: hostLocal('10.77.0.0/16', 'bench-cluster') },
    ],
  };
  const macvlanConf = (i: number) => ({
    cniVersion: '1.0.0',
    name: `bench-mv${i}`,
    type: 'macvlan',
    master: 'mvmaster0',
    mode: 'bridge',
    ipam: hostLocal(`10.78.${i}.0/24`, `bench-mv${i}`),
  });
  /** The four delegates as a runtime would call them without braid: [type, ifname, conf]. */
  const direct: DirectCall[] = [
    ['bridge', 'eth0', JSON.stringify({ cniVersion: '1.0.0', name: 'bench-cluster', ...bridgeConf.plugins[0] })],
    ...[1, 2, 3].map((i): DirectCall => ['macvlan', `net${i}`, JSON.stringify(macvlanConf(i))]),
  ];
  return { bridgeConf, macvlanConf, direct };
}

/** One delegate of the bench pod called directly: its type, its interface and its conf (JSON). */
export type DirectCall = [type: string, ifname: string, conf: string];

/**
 * The bench pod's delegates called directly for one verb, ADD in declared order and DEL in
 * reverse (as braid runs them); `call` times one of them (ms). Their times summed.
 */
export function timeDirect(
  direct: DirectCall[],
  verb: 'ADD' | 'DEL',
  call: (plugin: string, ifname: string, conf: string) => number,
): number {
  const ordered = verb === 'ADD' ? direct : [...direct].reverse();
  return ordered.reduce((ms, [type, ifname, conf]) => ms + call(path.join(PLUGINS, type), ifname, conf), 0);
}

/** One CNI call of `plugin` inside the node namespace `nodeNs`, with exactly `env`; its wall time in ms. */
export function timedCni(nodeNs: string, plugin: string, env: Record<string, string>, conf: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], { input: conf, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${path.basename(plugin)} ${env.CNI_COMMAND} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}
