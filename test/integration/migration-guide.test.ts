import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  braidBinary,
  braidUnavailable,
  expectOk,
  repoRoot,
  useBraidBed,
  type BraidBed,
} from '../helpers/braid-fixture.ts';
import { multusAdd, multusFiles } from '../helpers/multus-fixture.ts';

// Issue 11 item 8: docs/migration.md's node steps, run as written (the blocks marked
// `<!-- step: NAME -->`) on a node laid out as Multus v4 thin leaves it: a bridge cluster network,
// Multus' conf and a pod Multus set up with a macvlan network. Between the steps, the runtime's
// calls (the Multus pod's DEL, a new pod's ADD and DEL for the drain) go to braid with the conf the
// guide installed.

const unavailable = braidUnavailable();

function guideSteps(): Map<string, string> {
  const text = readFileSync(join(repoRoot, 'docs', 'migration.md'), 'utf8');
  const steps = new Map<string, string>();
  for (const m of text.matchAll(/<!-- step: (\S+) -->\n```sh\n([\s\S]*?)```/g)) steps.set(m[1]!, m[2]!);
  return steps;
}

describe.skipIf(unavailable !== undefined)('docs/migration.md', () => {
  let bed: BraidBed;
  useBraidBed((b) => {
    bed = b;
  });

  it("switches a node from Multus to braid, takes over Multus' pod, and rolls back", async () => {
    const steps = guideSteps();
    expect([...steps.keys()]).toEqual(['inspect', 'dry-run', 'install', 'verify', 'drained', 'rollback']);
    const multusDir = join(bed.root, 'multus');
    const cluster = JSON.parse(readFileSync(bed.clusterFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      join(bed.confDir, '00-multus.conf'),
      JSON.stringify({
        cniVersion: '0.3.1',
        name: 'multus-cni-network',
        type: 'multus',
        cniDir: multusDir,
        delegates: [cluster],
      }),
    );
    const template = join(bed.root, 'braid-conf.json');
    const { cniDir, nadDir, podDir, confDir, binDir, policy, deviceInfoDir } = bed.conf();
    writeFileSync(template, JSON.stringify({ cniDir, nadDir, podDir, confDir, binDir, policy, deviceInfoDir }));
    const master = await bed.macvlanNad('mv', '10.10.1.0/24');
    const macvlan = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'mv',
      type: 'macvlan',
      master,
      mode: 'bridge',
      ipam: bed.hostLocal('10.10.1.0/24'),
    });
    const multusPod = `${bed.containerId}-multus`;
    await multusAdd(multusDir, { containerId: multusPod, netns: bed.pod, node: bed.node }, [
      { display: 'cluster', bytes: readFileSync(bed.clusterFile, 'utf8'), ifname: 'eth0', master: true },
      { display: 'default/mv', bytes: macvlan, ifname: 'net1' },
    ]);
    const env = {
      PATH: `${dirname(braidBinary())}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      CNI_CONF_DIR: bed.confDir,
      MULTUS_CNI_DIR: multusDir,
      BRAID_CACHE_DIR: bed.cniDir,
      BRAID_TEMPLATE: template,
      MULTUS_BACKUP: join(bed.root, 'backup'),
    };
    const run = (name: string) =>
      spawnSync('bash', ['-euo', 'pipefail', '-c', steps.get(name)!], { env, encoding: 'utf8' });
    const step = (name: string) => {
      const r = run(name);
      expect(r.status, `step ${name}: ${r.stdout}${r.stderr}`).toBe(0);
      return r.stdout;
    };

    expect(step('inspect')).toContain(multusPod);
    expect(step('dry-run')).toContain('"multusCniDir"');
    step('install');
    step('verify');
    const braidConf = JSON.parse(readFileSync(join(bed.confDir, '00-braid.conflist'), 'utf8')) as Record<
      string,
      unknown
    >;

    // The runtime deletes the pod Multus set up: braid frees it from Multus' caches.
    expectOk(await bed.run('DEL', { conf: braidConf, containerId: multusPod }));
    await bed.expectNothingLeft();
    expect(multusFiles(multusDir)).toEqual([]);

    // A new pod is braid's; the rollback waits for the drain.
    bed.writePod({ [ANN_NETWORKS]: 'mv' });
    expectOk(await bed.run('ADD', { conf: braidConf }));
    expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1']);
    expect(run('drained').status, 'braid still holds a pod').not.toBe(0);
    expectOk(await bed.run('DEL', { conf: braidConf }));
    step('drained');
    step('rollback');

    expect(existsSync(join(bed.confDir, '00-multus.conf'))).toBe(true);
    expect(existsSync(join(bed.confDir, '00-braid.conflist'))).toBe(false);
    await bed.expectNothingLeft();
  });
});
