import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fnv1a64 } from '../../src/k8s/content-hash.ts';
import { runCommand } from '../helpers/exec.ts';
import type { PluginRun } from '../helpers/run-plugin.ts';
import { hex, type ProbeBed } from './probe-bed.ts';

/** One attack on the node and what braid must do about it; throws with the finding. */
export interface Check {
  name: string;
  run(bed: ProbeBed): Promise<void>;
}

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ok(r: PluginRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stdout.trim()} ${r.stderr.trim().slice(0, 300)}`);
}

function code(r: PluginRun, expected: number[], what: string): void {
  const got = r.json?.code;
  if (r.code === 0 || !expected.includes(got))
    throw new Error(
      `${what}: expected code ${expected.join(' or ')}, got exit ${r.code}: ${r.stdout.trim().slice(0, 300)}`,
    );
}

async function clean(bed: ProbeBed): Promise<void> {
  const leaks = await bed.leaks();
  if (leaks.length > 0) throw new Error(`leaked: ${leaks.join('; ')}`);
}

async function podCall(bed: ProbeBed, annotations?: Record<string, string>) {
  const pod = await bed.newPod(undefined, annotations);
  return { containerId: `ctr-${hex(6)}`, pod: pod.ns, podName: pod.name };
}

/** A delegate that reports braid's pid, sleeps, then creates a file: what an orphan would leave. */
function slowPlugin(bed: ProbeBed): { started: string; created: string } {
  const started = join(bed.root, `slow-${hex()}.started`);
  const created = `${started}.created`;
  writeFileSync(
    join(bed.pluginDir, 'slow'),
    `#!/bin/sh\ncat >/dev/null\ncase "$CNI_COMMAND" in\nVERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;\n` +
      `ADD) echo $PPID > ${started}; sleep 1; touch ${created}\n  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"net1","sandbox":"'"$CNI_NETNS"'"}],"ips":[]}';;\nesac\n`,
    { mode: 0o755 },
  );
  return { started, created };
}

export const CHECKS: Check[] = [
  {
    name: 'burst: 12 parallel ADDs of distinct pods, then 12 parallel DELs',
    async run(bed) {
      const calls = await Promise.all(Array.from({ length: 12 }, () => podCall(bed)));
      const adds = await Promise.all(calls.map((c) => bed.run('ADD', c)));
      adds.forEach((r, i) => ok(r, `ADD ${i}`));
      const ips = new Set(adds.flatMap((r) => (r.json?.ips ?? []).map((ip: { address: string }) => ip.address)));
      if (ips.size !== 12) throw new Error(`12 pods got ${ips.size} distinct cluster addresses`);
      (await Promise.all(calls.map((c) => bed.run('DEL', c)))).forEach((r, i) => ok(r, `DEL ${i}`));
      await clean(bed);
    },
  },
  {
    name: 'burst: 6 parallel ADDs of one container: one wins, the others are refused',
    async run(bed) {
      const c = await podCall(bed);
      const adds = await Promise.all(Array.from({ length: 6 }, () => bed.run('ADD', c)));
      const wins = adds.filter((r) => r.code === 0).length;
      if (wins !== 1) throw new Error(`${wins} ADDs succeeded`);
      for (const r of adds.filter((x) => x.code !== 0)) code(r, [102, 11], 'a losing ADD');
      ok(await bed.run('DEL', c), 'DEL');
      await clean(bed);
    },
  },
  {
    name: 'kills at random points of ADD (6 runs), each followed by DEL',
    async run(bed) {
      for (let i = 0; i < 6; i++) {
        const c = await podCall(bed);
        const child = bed.start('ADD', c);
        const closed = new Promise((r) => child.once('close', r));
        await sleep(Math.floor(Math.random() * 400));
        child.kill('SIGKILL');
        await closed;
        ok(await bed.run('DEL', c), `DEL after a kill (run ${i})`);
      }
      await clean(bed);
    },
  },
  {
    name: 'orphan delegate: braid SIGKILLed while a slow delegate runs, DEL at once; nothing appears later',
    async run(bed) {
      const { started, created } = slowPlugin(bed);
      const c = {
        ...(await podCall(bed)),
        conf: bed.conf({ clusterNetwork: undefined, delegates: [{ cniVersion: '1.0.0', name: 'slow', type: 'slow' }] }),
      };
      const child = bed.start('ADD', c);
      const closed = new Promise((r) => child.once('close', r));
      for (let t = 0; !existsSync(started) && t < 500; t++) await sleep(20);
      process.kill(Number(readFileSync(started, 'utf8').trim()), 'SIGKILL');
      await closed;
      ok(await bed.run('DEL', c), 'DEL');
      await sleep(2_000);
      if (existsSync(created)) throw new Error('the orphaned delegate finished its ADD after DEL');
      await clean(bed);
    },
  },
  {
    name: 'disk full: cniDir on a 16 KiB tmpfs at every fill level; complete record or code 5, nothing left',
    async run(bed) {
      await runCommand(['mount', '-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'braid-t-probe', bed.cniDir]);
      try {
        for (const freeKiB of [0, 4, 8, 12]) {
          const filler = join(bed.cniDir, 'filler');
          await runCommand(['dd', 'if=/dev/zero', `of=${filler}`, 'bs=1024', `count=${16 - freeKiB}`]);
          const c = await podCall(bed, { 'k8s.v1.cni.cncf.io/networks': 'lan', pad: 'x'.repeat(2500) });
          const r = await bed.run('ADD', c);
          if (r.code === 0) {
            const record = JSON.parse(readFileSync(join(bed.cniDir, `${c.containerId}-eth0.json`), 'utf8'));
            if (record.state !== 'added') throw new Error(`ADD succeeded with a record in state ${record.state}`);
          } else code(r, [5], `ADD with ${freeKiB} KiB free`);
          ok(await bed.run('DEL', c), `DEL with ${freeKiB} KiB free`);
          await runCommand(['rm', '-f', filler]);
          await clean(bed);
        }
      } finally {
        await runCommand(['umount', '-l', bed.cniDir]);
      }
    },
  },
  {
    name: "lock squatter: nobody binds braid's former abstract lock name and tries to create, open and flock lock files",
    async run(bed) {
      const c = await podCall(bed);
      const name = `\0braid-lock-${fnv1a64(bed.cniDir)}-${fnv1a64(c.containerId)}`;
      const squatter = spawn(
        'nsenter',
        [
          `--net=${bed.node.path}`,
          '--',
          ...NOBODY,
          process.execPath,
          '-e',
          `require('net').createServer().listen({path: ${JSON.stringify(name)}}, () => console.log('bound'))`,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      try {
        await new Promise((r) => squatter.stdout!.once('data', r));
        ok(await bed.run('ADD', { ...c, conf: bed.conf({ delegateTimeout: 2 }) }), 'ADD beside the squatter');
        const lock = join(bed.cniDir, 'locks', `${c.containerId}.lock`);
        for (const cmd of [
          ['flock', '-n', lock, 'true'],
          ['touch', join(bed.cniDir, 'locks', 'x.lock')],
          ['cat', join(bed.cniDir, `${c.containerId}-eth0.json`)],
          ['ls', join(bed.bpfRoot)],
        ]) {
          const r = await runCommand([...NOBODY, ...cmd]);
          if (r.code === 0) throw new Error(`nobody could run: ${cmd.join(' ')}`);
        }
        const exposed = bed.exposedPaths();
        if (exposed.length > 0) throw new Error(`group/other-writable: ${exposed.join(', ')}`);
        ok(await bed.run('DEL', { ...c, conf: bed.conf({ delegateTimeout: 2 }) }), 'DEL beside the squatter');
      } finally {
        squatter.kill('SIGKILL');
      }
      await clean(bed);
    },
  },
  {
    name: "the node's own netns as CNI_NETNS (its path, /proc/self, /proc/thread-self, a bind mount): code 4, node untouched",
    async run(bed) {
      const alias = `/run/netns/braid-t-probe-alias-${hex()}`;
      writeFileSync(alias, '');
      await runCommand(['mount', '--bind', bed.node.path, alias]);
      try {
        const before = (await bed.node.links())
          .map((l) => l.ifname)
          .sort()
          .join(',');
        for (const netns of [bed.node.path, '/proc/self/ns/net', '/proc/thread-self/ns/net', alias]) {
          const c = { containerId: `ctr-${hex(6)}`, pod: netns };
          code(await bed.run('ADD', c), [4], `braid ADD in ${netns}`);
          code(await bed.run('ADD', c, bed.veth), [4], `braid-veth (${bed.veth}) ADD in ${netns}`);
          ok(await bed.run('DEL', c), `DEL in ${netns}`);
        }
        const after = (await bed.node.links())
          .map((l) => l.ifname)
          .sort()
          .join(',');
        if (after !== before) throw new Error(`node interfaces changed: ${before} -> ${after}`);
      } finally {
        await runCommand(['umount', alias]);
        await runCommand(['rm', '-f', alias]);
      }
      await clean(bed);
    },
  },
  {
    name: 'corrupt records: garbage, a torn copy, one unreadable attachment, an `adding` record with a dead delegate',
    async run(bed) {
      const mutations: [string, (text: string) => string][] = [
        ['garbage', () => '\u0000garbage'],
        ['torn', (t) => t.slice(0, Math.floor(t.length / 2))],
        [
          'bad attachment',
          (t) => {
            const rec = JSON.parse(t);
            rec.attachments[1].confBytes = '{"cniVersion":';
            return JSON.stringify(rec);
          },
        ],
        [
          'dead delegate',
          (t) => JSON.stringify({ ...JSON.parse(t), state: 'adding', delegate: { pid: 999999, startTime: '1' } }),
        ],
      ];
      for (const [what, mutate] of mutations) {
        const c = await podCall(bed);
        ok(await bed.run('ADD', c), `ADD (${what})`);
        const file = join(bed.cniDir, `${c.containerId}-eth0.json`);
        writeFileSync(file, mutate(readFileSync(file, 'utf8')));
        ok(await bed.run('DEL', c), `DEL of a ${what} record`);
        for (const f of readdirSync(bed.cniDir).filter((n) => n.startsWith(`${c.containerId}-eth0.json.corrupt-`)))
          bed.expectedLeftovers.add(f);
        ok(await bed.run('ADD', c), `ADD after a ${what} record`);
        ok(await bed.run('DEL', c), `second DEL (${what})`);
      }
      await clean(bed);
    },
  },
  {
    name: 'hostile identifiers: path injection, a 300-byte container ID, bad ifnames, deeply nested JSON',
    async run(bed) {
      const pod = (await bed.newPod()).ns;
      for (const id of ['../../etc/x', 'a/b', 'c'.repeat(300)])
        code(await bed.run('ADD', { containerId: id, pod }), [4], `container ID ${id.slice(0, 20)}`);
      for (const ifname of ['../x', 'a'.repeat(16), 'a b'])
        code(await bed.run('ADD', { containerId: `ctr-${hex()}`, pod, ifname }), [4], `ifname ${ifname}`);
      const deep = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
      const conf = JSON.stringify(
        bed.conf({
          clusterNetwork: undefined,
          delegates: [{ cniVersion: '1.0.0', name: 'deep', type: 'bridge', deep: 0 }],
        }),
      ).replace('"deep":0', `"deep":${deep}`);
      code(await bed.run('ADD', { containerId: `ctr-${hex()}`, pod, conf }), [6, 7], 'deeply nested delegate conf');
      await clean(bed);
    },
  },
];
