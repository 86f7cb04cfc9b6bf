import { spawnSync } from 'node:child_process';
import path from 'node:path';

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
  return { bridgeConf, macvlanConf };
}

/** One CNI call of `plugin` inside the node namespace `nodeNs`, with exactly `env`; its wall time in ms. */
export function timedCni(nodeNs: string, plugin: string, env: Record<string, string>, conf: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], { input: conf, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${path.basename(plugin)} ${env.CNI_COMMAND} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}
