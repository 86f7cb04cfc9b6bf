import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ANN_NETWORKS,
  addressesOf,
  braidBinary,
  braidUnavailable,
  expectOk,
  isAlive,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import type { IpRoute } from '../helpers/netns.ts';
import { agentBinaryBeside, startAgentProcess, type AgentProcess } from './agent-testbed.ts';

// `parallelAttachments: true`: the cluster network first, the additional networks at once, DEL
// the other way round; real macvlan/host-local delegates for what a user checks, and a fake
// delegate that meets the others at a barrier for the concurrency itself (no timing involved:
// in sequential mode the barrier could never be met).

const unavailable = braidUnavailable();

/**
 * A fake delegate `slow`: ADD and DEL write `<verb>-<ifname>.start`, then, when `<dir>/barrier-<verb>`
 * holds a count, wait (up to 10 s) until that many `<verb>-net*` calls have started, and, when
 * `<dir>/hold` exists, ADD until `<dir>/release` does (both for net* only, not the cluster network's
 * eth0); then `.barrier` (met or timeout) and `.end`.
 */
function slowDelegate(dir: string): void {
  writeFileSync(
    join(dir, 'slow'),
    `#!/bin/sh
dir='${dir}'
cat >/dev/null
[ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0; }
tag="$CNI_COMMAND-$CNI_IFNAME"
echo "$$ $(date +%s%N)" > "$dir/$tag.start"
want=0
case "$CNI_IFNAME" in net*) want=$(cat "$dir/barrier-$CNI_COMMAND" 2>/dev/null || echo 0);; esac
met=met
i=0
while [ "$(ls "$dir" | grep -c "^$CNI_COMMAND-net.*\\.start$")" -lt "$want" ]; do
  i=$((i+1)); [ $i -gt 100 ] && { met=timeout; break; }; sleep 0.1
done
if [ -e "$dir/hold" ] && [ "$CNI_COMMAND" = ADD ] && [ "$CNI_IFNAME" != eth0 ]; then
  while [ ! -e "$dir/release" ]; do sleep 0.05; done
fi
echo $met > "$dir/$tag.barrier"
date +%s%N > "$dir/$tag.end"
[ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[]}\\n' "$CNI_IFNAME" "$CNI_NETNS"
exit 0
`,
    { mode: 0o755 },
  );
}

const stamp = (dir: string, name: string): bigint =>
  BigInt(readFileSync(join(dir, name), 'utf8').trim().split(' ').at(-1)!);

/** The cluster network and three NADs, all `slow`; returns braid's conf. */
function slowPod(bed: BraidBed, extra: Record<string, unknown>): Record<string, unknown> {
  slowDelegate(bed.spyDir);
  const clusterNetwork = bed.writeConfFile({ cniVersion: '1.0.0', name: 'cluster', type: 'slow' }, '10-slow.conf');
  for (const nad of ['a', 'b', 'c']) bed.writeNad(nad, { cniVersion: '1.0.0', name: nad, type: 'slow' });
  bed.writePod({ [ANN_NETWORKS]: 'a, b, c' });
  return bed.conf({ clusterNetwork, ...extra });
}

describe.skipIf(unavailable !== undefined)('parallelAttachments', () => {
  let bed: BraidBed;
  let agent: AgentProcess | undefined;

  useBraidBed((b) => {
    bed = b;
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  /** braid's conf for a mode: thin, or handed to a braid-agent started for the test. */
  async function confFor(mode: 'thin' | 'agent', extra: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (mode === 'thin') return bed.conf(extra);
    const socketPath = join(bed.root, 'run', 'braid.sock');
    agent = await startAgentProcess(agentBinaryBeside(braidBinary()), {
      node: bed.node,
      socketPath,
      cacheDir: bed.cniDir,
    });
    return bed.conf({ agentSocket: socketPath, ...extra });
  }

  describe.each(['thin', 'agent'] as const)('three macvlan NADs (%s)', (mode) => {
    it('gets every interface, address and route under its declared name, network-status in declared order; DEL removes all', async () => {
      await bed.macvlanNad('lan', '10.89.0.0/24');
      await bed.macvlanNad('storage', '10.90.0.0/24');
      await bed.macvlanNad('backup', '10.91.0.0/24');
      bed.writePod({ [ANN_NETWORKS]: 'lan, storage@stor0, backup' });
      const conf = await confFor(mode, { parallelAttachments: true });

      expectOk(await bed.run('ADD', { conf }));
      if (agent) expect(await agent.metric('braid_agent_requests_total{verb="ADD",code="0"}')).toBe(1);

      expect(await bed.linkNames()).toEqual(['eth0', 'lo', 'net1', 'net3', 'stor0']);
      expect(await addressesOf(bed.pod, 'eth0')).toEqual(['10.88.0.2/24']);
      expect(await addressesOf(bed.pod, 'net1')).toEqual(['10.89.0.2/24']);
      expect(await addressesOf(bed.pod, 'stor0')).toEqual(['10.90.0.2/24']);
      expect(await addressesOf(bed.pod, 'net3')).toEqual(['10.91.0.2/24']);
      const routes = (await bed.pod.routes(4)).map((r: IpRoute) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`).sort();
      expect(routes).toEqual([
        '10.88.0.0/24 - eth0',
        '10.89.0.0/24 - net1',
        '10.90.0.0/24 - stor0',
        '10.91.0.0/24 - net3',
        'default 10.88.0.1 eth0',
      ]);
      expect(bed.leases()).toEqual(['backup/10.91.0.2', 'cluster/10.88.0.2', 'lan/10.89.0.2', 'storage/10.90.0.2']);
      const status = (await bed.networkStatus())!;
      expect(status.map((s) => [s.name, s.interface, s.ips, s.default])).toEqual([
        ['cluster', 'eth0', ['10.88.0.2'], true],
        ['default/lan', 'net1', ['10.89.0.2'], false],
        ['default/storage', 'stor0', ['10.90.0.2'], false],
        ['default/backup', 'net3', ['10.91.0.2'], false],
      ]);
      const record = JSON.parse(readFileSync(join(bed.cniDir, `${bed.containerId}-eth0.json`), 'utf8'));
      expect(record.attachments.map((a: { ifname: string; state: string }) => `${a.ifname} ${a.state}`)).toEqual([
        'eth0 added',
        'net1 added',
        'stor0 added',
        'net3 added',
      ]);
      expect(record.attachments.filter((a: { delegate?: unknown }) => a.delegate)).toEqual([]);

      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });
  });

  it('applies default-route after the concurrent part: the requested gateway is the only default', async () => {
    await bed.macvlanNad('lan', '10.89.0.0/24');
    await bed.macvlanNad('storage', '10.90.0.0/24', {
      ipam: { ranges: [[{ subnet: '10.90.0.0/24', gateway: '10.90.0.1' }]] },
    });
    bed.writePod({
      [ANN_NETWORKS]: JSON.stringify([{ name: 'lan' }, { name: 'storage', 'default-route': ['10.90.0.1'] }]),
    });

    expectOk(await bed.run('ADD', { conf: bed.conf({ parallelAttachments: true }) }));

    const defaults = (await bed.pod.routes(4)).filter((r) => r.dst === 'default');
    expect(defaults.map((r) => `${r.gateway} ${r.dev}`)).toEqual(['10.90.0.1 net2']);
    expectOk(await bed.run('DEL', { conf: bed.conf({ parallelAttachments: true }) }));
    await bed.expectNothingLeft();
  });

  it('one failing NAD: nothing is left (interfaces, reservations, record) and the error names it', async () => {
    await bed.macvlanNad('lan', '10.89.0.0/24');
    await bed.macvlanNad('storage', '10.90.0.0/24', { master: 'nosuchdev0' });
    await bed.macvlanNad('backup', '10.91.0.0/24');
    bed.writePod({ [ANN_NETWORKS]: 'lan, storage, backup' });

    const add = await bed.run('ADD', { conf: bed.conf({ parallelAttachments: true }) });

    expect(add.code, add.stdout).not.toBe(0);
    expect(add.json?.msg).toContain('default/storage (net2)');
    expect(add.json?.msg).not.toContain('more ADD failures');
    await bed.expectNothingLeft();
  });

  it('two failing NADs: the first in declared order is reported, the other named after it', async () => {
    await bed.macvlanNad('lan', '10.89.0.0/24');
    await bed.macvlanNad('storage', '10.90.0.0/24', { master: 'nosuchdev0' });
    await bed.macvlanNad('backup', '10.91.0.0/24', { master: 'nosuchdev1' });
    bed.writePod({ [ANN_NETWORKS]: 'lan, storage, backup' });

    const add = await bed.run('ADD', { conf: bed.conf({ parallelAttachments: true }) });

    expect(add.code, add.stdout).not.toBe(0);
    const msg = String(add.json?.msg);
    expect(msg.indexOf('default/storage (net2)')).toBeGreaterThanOrEqual(0);
    expect(msg.indexOf('default/storage (net2)')).toBeLessThan(msg.indexOf('and 1 more ADD failures'));
    expect(msg).toContain('default/backup (net3)');
    await bed.expectNothingLeft();
  });

  describe.each(['thin', 'agent'] as const)('concurrency (%s)', (mode) => {
    it('the additional networks run at once after the cluster network; DEL runs them at once before it', async () => {
      const conf = slowPod(bed, {});
      const dir = bed.spyDir;
      writeFileSync(join(dir, 'barrier-ADD'), '3');
      writeFileSync(join(dir, 'barrier-DEL'), '3');
      const parallel = await confFor(mode, { ...conf, parallelAttachments: true });

      expectOk(await bed.run('ADD', { conf: parallel }));
      for (const n of ['net1', 'net2', 'net3']) {
        expect(readFileSync(join(dir, `ADD-${n}.barrier`), 'utf8').trim(), `ADD ${n} met the others`).toBe('met');
        expect(stamp(dir, 'ADD-eth0.end') <= stamp(dir, `ADD-${n}.start`), 'the cluster network came first').toBe(true);
      }
      expect((await bed.networkStatus())!.map((s) => s.interface)).toEqual(['eth0', 'net1', 'net2', 'net3']);

      expectOk(await bed.run('DEL', { conf: parallel }));
      for (const n of ['net1', 'net2', 'net3']) {
        expect(readFileSync(join(dir, `DEL-${n}.barrier`), 'utf8').trim(), `DEL ${n} met the others`).toBe('met');
        expect(stamp(dir, `DEL-${n}.end`) <= stamp(dir, 'DEL-eth0.start'), 'the cluster network went last').toBe(true);
      }
      expect(bed.cacheFiles()).toEqual([]);
    });
  });

  it('runs the auxiliary chain alone after the concurrent step, and first on DEL', async () => {
    const conf = slowPod(bed, { parallelAttachments: true, auxiliaryCNIChainName: 'aux-chain' });
    const dir = bed.spyDir;
    const passthru = bed.spy('passthru');
    bed.spy('auxstep');
    mkdirSync(join(bed.confDir, 'aux-chain'));
    writeFileSync(join(bed.confDir, 'aux-chain', '10-step.conf'), JSON.stringify({ type: 'auxstep' }));
    writeFileSync(join(dir, 'barrier-ADD'), '3');
    writeFileSync(join(dir, 'barrier-DEL'), '3');

    expectOk(await bed.run('ADD', { conf }));
    expectOk(await bed.run('DEL', { conf }));

    const auxAdd = passthru.callsOf('ADD')[0]!.time;
    const auxDel = passthru.callsOf('DEL')[0]!.time;
    for (const n of ['net1', 'net2', 'net3']) {
      expect(readFileSync(join(dir, `ADD-${n}.barrier`), 'utf8').trim()).toBe('met');
      expect(stamp(dir, `ADD-${n}.end`) <= auxAdd, `ADD ${n} ended before the chain`).toBe(true);
      expect(auxDel <= stamp(dir, `DEL-${n}.start`), `the chain's DEL ran before ${n}'s`).toBe(true);
    }
    expect(bed.cacheFiles()).toEqual([]);
  });

  it('off by default: one at a time in declared order, DEL in reverse', async () => {
    const conf = slowPod(bed, {});
    const dir = bed.spyDir;

    expectOk(await bed.run('ADD', { conf }));
    expectOk(await bed.run('DEL', { conf }));

    const order = ['eth0', 'net1', 'net2', 'net3'];
    for (let i = 1; i < order.length; i++) {
      expect(stamp(dir, `ADD-${order[i - 1]}.end`) <= stamp(dir, `ADD-${order[i]}.start`)).toBe(true);
      expect(stamp(dir, `DEL-${order[i]}.end`) <= stamp(dir, `DEL-${order[i - 1]}.start`)).toBe(true);
    }
  });

  it('falls back to one at a time when a network uses a plugin that changes the whole namespace (sbr)', async () => {
    const conf = slowPod(bed, { parallelAttachments: true, logLevel: 'verbose' });
    bed.writeNad('b', { cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'slow' }, { type: 'sbr' }] });

    const add = await bed.run('ADD', { conf });

    // sbr itself fails on an interface without addresses; what counts is that nothing overlapped before it.
    expect(add.stderr).toContain(
      'parallelAttachments: attachments run one at a time: network default/b (net2) uses plugin sbr',
    );
    const dir = bed.spyDir;
    expect(stamp(dir, 'ADD-net1.end') <= stamp(dir, 'ADD-net2.start')).toBe(true);
    expectOk(await bed.run('DEL', { conf }));
    expect(bed.cacheFiles()).toEqual([]);
  });

  it('killed mid-ADD with three delegates running: each is recorded, DEL stops them all and leaves nothing', async () => {
    const conf = slowPod(bed, { parallelAttachments: true });
    const dir = bed.spyDir;
    writeFileSync(join(dir, 'hold'), '');
    const add = bed.run('ADD', { conf });
    const started = () => readdirSync(dir).filter((f) => /^ADD-net\d\.start$/.test(f)).length;
    for (let i = 0; i < 300 && started() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(started()).toBe(3);
    const cacheFile = join(bed.cniDir, `${bed.containerId}-eth0.json`);
    const pids = (): number[] =>
      JSON.parse(readFileSync(cacheFile, 'utf8'))
        .attachments.map((a: { delegate?: { pid: number } }) => a.delegate?.pid)
        .filter((p: number | undefined) => p !== undefined);
    for (let i = 0; i < 100 && pids().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const recorded = pids();
    expect(recorded).toHaveLength(3);
    const delegatePids = ['net1', 'net2', 'net3'].map((n) =>
      Number(readFileSync(join(dir, `ADD-${n}.start`), 'utf8').split(' ')[0]),
    );
    const braidPid = Number(readFileSync(`/proc/${delegatePids[0]}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    process.kill(braidPid, 'SIGKILL');
    await add;

    expectOk(await bed.run('DEL', { conf }));

    for (const pid of recorded) expect(isAlive(pid), `delegate ${pid} still runs`).toBe(false);
    writeFileSync(join(dir, 'release'), '');
    expect(bed.cacheFiles()).toEqual([]);
  });
});
