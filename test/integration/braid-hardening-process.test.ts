import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fnv1a64 } from '../../src/k8s/content-hash.ts';
import {
  braidBinary,
  braidUnavailable,
  expectCniError,
  expectOk,
  isAlive,
  type BraidBed,
  useBraidBed,
} from '../helpers/braid-fixture.ts';
import { runCommand } from '../helpers/exec.ts';
import { runPlugin } from '../helpers/run-plugin.ts';

// Issue 14, processes and other tenants: no delegate outlives braid's call, no unprivileged
// process can hold, squat, read or replace braid's locks and state, and the node's own network
// namespace is never configured as a pod.

const unavailable = braidUnavailable();
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** A delegate that records braid's pid, sleeps, then creates a file: what an orphan would leave. */
function slowPlugin(dir: string): { started: string; created: string } {
  const started = join(dir, 'slow.started');
  const created = join(dir, 'slow.created');
  writeFileSync(
    join(dir, 'slow'),
    `#!/bin/sh\ncat >/dev/null\ncase "$CNI_COMMAND" in\n` +
      `VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}';;\n` +
      `ADD) echo $PPID > ${started}; sleep 1; touch ${created}\n` +
      `  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"net1","sandbox":"'"$CNI_NETNS"'"}],"ips":[]}';;\nesac\n`,
    { mode: 0o755 },
  );
  return { started, created };
}

describe.skipIf(unavailable !== undefined)('braid against a hostile node', () => {
  let bed: BraidBed;
  const children: ChildProcess[] = [];
  useBraidBed((b) => {
    bed = b;
  });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });
  const cacheFile = () => join(bed.cniDir, `${bed.containerId}-eth0.json`);

  describe('no process outlives its call', () => {
    it('braid SIGKILLed while a slow delegate runs, DEL at once: the delegate never finishes', async () => {
      const { started, created } = slowPlugin(bed.spyDir);
      const conf = bed.conf({
        clusterNetwork: undefined,
        delegates: [{ cniVersion: '1.0.0', name: 'slow', type: 'slow' }],
      });
      const add = bed.run('ADD', { conf, pod: null });
      await waitFor(() => existsSync(started));
      process.kill(Number(readFileSync(started, 'utf8').trim()), 'SIGKILL');
      await add;

      expectOk(await bed.run('DEL', { conf, pod: null }));
      await sleep(2_500);

      expect(existsSync(created), 'the orphaned delegate completed its ADD after DEL').toBe(false);
      expect(bed.cacheFiles()).toEqual([]);
    });

    it("DEL stops the delegate an interrupted ADD recorded, with everything it forked, but never a reused pid's process", async () => {
      expectOk(await bed.run('ADD'));
      const created = join(bed.root, 'orphan.created');
      const orphan = spawn('sh', ['-c', `sleep 1.5 & wait; touch ${created}`], { detached: true, stdio: 'ignore' });
      const bystander = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
      children.push(orphan, bystander);
      const startOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;
      const record = JSON.parse(readFileSync(cacheFile(), 'utf8'));
      writeFileSync(
        cacheFile(),
        JSON.stringify({ ...record, state: 'adding', delegate: { pid: orphan.pid, startTime: startOf(orphan.pid!) } }),
      );

      expectOk(await bed.run('DEL'));
      await sleep(2_000);
      expect(existsSync(created)).toBe(false);

      expectOk(await bed.run('ADD'));
      const again = JSON.parse(readFileSync(cacheFile(), 'utf8'));
      writeFileSync(
        cacheFile(),
        JSON.stringify({ ...again, state: 'adding', delegate: { pid: bystander.pid, startTime: '1' } }),
      );
      expectOk(await bed.run('DEL'));
      expect(isAlive(bystander.pid)).toBe(true);
      await bed.expectNothingLeft();
    });
  });

  describe('no unprivileged process can influence a pod', () => {
    it('nobody can read the record, open or create a lock, or write into the state directories', async () => {
      expectOk(await bed.run('ADD'));
      const lock = join(bed.cniDir, 'locks', `${bed.containerId}.lock`);
      expect(existsSync(lock)).toBe(true);
      for (const cmd of [
        ['cat', cacheFile()],
        ['sh', '-c', `exec 3<${lock}`],
        ['flock', '-n', lock, 'true'],
        ['touch', join(bed.cniDir, 'locks', 'squat.lock')],
        ['touch', join(bed.cniDir, `${bed.containerId}-eth1.json`)],
        ['ln', '-s', '/etc/passwd', join(bed.cniDir, 'locks', 'other.lock')],
        ['mv', cacheFile(), join(bed.cniDir, 'moved.json')],
      ]) {
        const r = await runCommand([...NOBODY, ...cmd]);
        expect(r.code, `${cmd.join(' ')} as nobody succeeded`).not.toBe(0);
      }
      expectOk(await bed.run('DEL'));
      expect(existsSync(lock), 'the lock file goes with the DEL').toBe(false);
    });

    it("nobody binding braid's former abstract lock name blocks neither ADD nor DEL", async () => {
      const name = `\0braid-lock-${fnv1a64(bed.cniDir)}-${fnv1a64(bed.containerId)}`;
      const script = `require('net').createServer().listen({path: ${JSON.stringify(name)}}, () => console.log('bound'))`;
      const squatter = spawn('nsenter', [`--net=${bed.node.path}`, '--', ...NOBODY, process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(squatter);
      await new Promise((r) => squatter.stdout!.once('data', r));
      const conf = bed.conf({ delegateTimeout: 2 });

      expectOk(await bed.run('ADD', { conf }));
      expectOk(await bed.run('DEL', { conf }));
      await bed.expectNothingLeft();
    });

    it('a state directory that others can write is refused with code 5 naming it', async () => {
      chmodSync(bed.cniDir, 0o777);
      const r = await bed.run('ADD');
      expect(expectCniError(r, 5).msg).toContain(bed.cniDir);
      await bed.expectNothingLeft();
    });
  });

  describe('the node is never a pod', () => {
    // (/proc/1/ns/net, init's, is compared too; this machine's sandbox denies opening it even to root.)
    it.each(['node', '/proc/self/ns/net', '/proc/thread-self/ns/net'])(
      'ADD and CHECK with CNI_NETNS %s are code 4 naming it; nothing is made on the node',
      async (which) => {
        const netns = which === 'node' ? bed.node.path : which;
        const before = (await bed.node.links()).map((l) => l.ifname).sort();

        const add = await bed.run('ADD', { netns });
        const check = await bed.run('CHECK', { netns });

        expect(expectCniError(add, 4).msg).toContain(netns);
        expectCniError(check, 4);
        expect((await bed.node.links()).map((l) => l.ifname).sort()).toEqual(before);
        expect(bed.leases()).toEqual([]);
        expect(bed.cacheFiles()).toEqual([]);
      },
    );

    it("braid-veth refuses it too, and a DEL naming it leaves the node's interfaces alone", async () => {
      const veth = join(dirname(braidBinary()), 'braid-veth');
      const r = await runPlugin(veth, {
        command: 'ADD',
        containerId: bed.containerId,
        netns: bed.node.path,
        ifname: 'eth0',
        stdin: { cniVersion: '1.0.0', name: 'pods', type: 'braid-veth' },
        hostNetns: bed.node,
      });
      expect(expectCniError(r, 4).msg).toContain(bed.node.path);

      const dummy = await bed.nodeVeth();
      const before = (await bed.node.links()).map((l) => l.ifname).sort();
      expectOk(await bed.run('DEL', { netns: bed.node.path, ifname: dummy }));
      expect((await bed.node.links()).map((l) => l.ifname).sort()).toEqual(before);
    });
  });
});
