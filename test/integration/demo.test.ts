import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * `braid demo` end to end, as a user runs it: the built binary, its printed output, and what it
 * leaves on the machine (nothing). Needs root, like every integration suite.
 */

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const braid = path.join(repo, 'dist', 'bin', 'braid');

interface DemoRun {
  code: number | null;
  output: string;
  /** braid-demo-<hex>: start of the demo's namespace names and of its temp dir's name. */
  prefix?: string;
}

const prefixes: string[] = [];

function netnsNames(): string[] {
  const r = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' });
  const text = r.stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as { name: string }[]).map((n) => n.name);
}

/** The demo's policy pin root (its @BPF_ROOT@), on the host's bpffs. */
function pinRoot(prefix: string): string {
  return path.join('/sys/fs/bpf', prefix);
}

function leftovers(prefix: string): string[] {
  const found = netnsNames().filter((n) => n.startsWith(`${prefix}-`));
  return [...found, ...[path.join(tmpdir(), prefix), pinRoot(prefix)].filter((d) => existsSync(d))];
}

/** Runs the demo; with interruptWhen, sends SIGINT once the output matches it. */
function runDemo(interruptWhen?: RegExp): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(braid, ['demo'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let prefix: string | undefined;
    let interrupted = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    const onData = (b: Buffer) => {
      output += b.toString();
      const m = /namespaces (braid-demo-[0-9a-f]{8})-\{/.exec(output);
      if (m && !prefix) {
        prefix = m[1]!;
        prefixes.push(prefix);
      }
      if (interruptWhen && !interrupted && interruptWhen.test(output)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(prefix ? { code, output, prefix } : { code, output });
    });
  });
}

/** The lines of one step, from its header to the next header. */
function step(output: string, n: number): string {
  const start = output.indexOf(`==> ${n}/`);
  if (start < 0) return '';
  const end = output.indexOf('==> ', start + 4);
  return output.slice(start, end < 0 ? undefined : end);
}

/** A pod's block in step 4: from its name line to the next blank line. */
function podBlock(output: string, pod: string): string {
  const inside = step(output, 4);
  const start = inside.indexOf(`    ${pod}  braid-demo-`);
  if (start < 0) return '';
  const end = inside.indexOf('\n\n', start);
  return inside.slice(start, end < 0 ? undefined : end);
}

beforeAll(() => {
  if (existsSync(braid)) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
}, 120_000);

// The demo cleans up after itself; this only catches what a failing demo left, so the next run starts clean.
afterEach(() => {
  for (const prefix of prefixes.splice(0)) {
    for (const name of netnsNames().filter((n) => n.startsWith(`${prefix}-`))) spawnSync('ip', ['netns', 'del', name]);
    rmSync(path.join(tmpdir(), prefix), { recursive: true, force: true });
    rmSync(pinRoot(prefix), { recursive: true, force: true });
  }
});

describe('braid demo', () => {
  it('attaches both pods, passes traffic on every network, enforces the policy and leaves nothing behind', async () => {
    const run = await runDemo();
    expect(run.code, run.output).toBe(0);
    const { output } = run;

    // The policy went into the store before the ADDs, and the pods carry the labels it selects on.
    expect(step(output, 1)).toContain(`policy pins (bpfRoot) in /sys/fs/bpf/${run.prefix}`);
    expect(step(output, 2)).toContain('multinetworkpolicy default/beta-lan-7000 configured');
    expect(step(output, 2)).toMatch(/default\/alpha .*\n.*\n +labels: app=client/);
    expect(step(output, 2)).toMatch(/default\/beta .*\n.*\n +labels: app=server/);

    // Both ADDs went through and the pods have the cluster network plus their secondaries.
    expect(step(output, 3)).toMatch(/ok {4}default\/alpha .* eth0 10\.244\.0\.\d+\/24 gw 10\.244\.0\.1/);
    expect(step(output, 3)).toMatch(/ok {4}default\/beta .* eth0 10\.244\.0\.\d+\/24 gw 10\.244\.0\.1/);
    const alpha = podBlock(output, 'default/alpha');
    expect(alpha).toMatch(/^ +eth0 +veth +UP +\S+ +10\.244\.0\.\d+\/24$/m);
    expect(alpha).toMatch(/^ +net1 +macvlan +UP +\S+ +10\.10\.50\.\d+\/24$/m);
    expect(alpha).toContain('routes: default via 10.244.0.1 dev eth0');
    const beta = podBlock(output, 'default/beta');
    expect(beta).toMatch(/^ +eth0 +veth +UP +\S+ +10\.244\.0\.\d+\/24$/m);
    expect(beta).toMatch(/^ +lan0 +macvlan +UP +\S+ +10\.10\.50\.50\/24$/m);
    expect(beta).toMatch(/^ +storage0 +veth +UP +\S+ +10\.10\.60\.2\/24$/m);

    // network-status as braid wrote it into the pod store.
    expect(alpha).toMatch(/"name":"default\/macvlan-lan","interface":"net1","ips":\["10\.10\.50\.\d+"\]/);
    expect(beta).toContain('"name":"default/macvlan-lan","interface":"lan0","ips":["10.10.50.50"]');
    expect(beta).toContain('"name":"default/storage","interface":"storage0","ips":["10.10.60.2"]');

    // braid status lists all five attachments.
    expect(step(output, 5).match(/ ready$/gm)).toHaveLength(5);

    // Traffic over the macvlan network, the cluster bridge (both ways) and the storage device.
    const traffic = step(output, 6);
    expect(traffic).toMatch(/ok {4}macvlan-lan +alpha net1 10\.10\.50\.\d+ -> beta lan0 10\.10\.50\.50 +\(via net1/);
    expect(traffic).toMatch(/ok {4}cluster +alpha eth0 10\.244\.0\.\d+ -> beta eth0 10\.244\.0\.\d+ +\(via eth0/);
    expect(traffic).toMatch(/ok {4}cluster +beta eth0 10\.244\.0\.\d+ -> alpha eth0 10\.244\.0\.\d+ +\(via eth0/);
    expect(traffic).toMatch(
      /ok {4}storage +beta storage0 10\.10\.60\.2 -> node stor-peer 10\.10\.60\.1 +\(via storage0/,
    );
    expect(traffic).not.toContain('FAIL');

    // The policy: over macvlan-lan beta takes TCP 7000 from alpha and drops 7001; eth0 stays open.
    const policy = step(output, 7);
    expect(policy).toMatch(/ok {4}macvlan-lan +alpha net1 -> beta lan0 10\.10\.50\.50:7000 +allowed: echoed/);
    expect(policy).toMatch(/ok {4}macvlan-lan +alpha net1 -> beta lan0 10\.10\.50\.50:7001 +dropped: no echo/);
    expect(policy).toMatch(/ok {4}cluster +alpha eth0 -> beta eth0 10\.244\.0\.\d+:7001 +allowed: echoed/);
    expect(policy).not.toContain('FAIL');
    // braid policy show: only beta's lan0 is selected and isolated, and it counted the drops.
    expect(policy).toMatch(
      /default\/beta lan0 \(default\/macvlan-lan\) via pod device lan0\n +policies default\/beta-lan-7000\n +ingress isolated .*denied [1-9]\d* pkts/,
    );
    expect(policy.match(/ingress isolated/g)).toHaveLength(1);
    // Interfaces no policy selects get no programs, so show lists only the enforced one.
    expect(policy.match(/policies \(none: all traffic allowed\)/g)).toBeNull();

    // The plan of beta's annotation.
    expect(step(output, 8)).toContain('pod default/beta: 3 attachment(s)');
    expect(step(output, 8)).toContain('runtimeConfig for macvlan: {"ips":["10.10.50.50/24"]}');

    // DEL for both, then nothing left, policy links and registry entries included.
    expect(step(output, 9).match(/^ {4}ok /gm)).toHaveLength(2);
    const left = step(output, 10);
    expect(left.match(/^ {4}ok /gm)).toHaveLength(8);
    expect(left).toContain('ok    pinned policy links (tcx): none');
    expect(left).toContain('ok    interfaces in the policy registry: none');
    expect(left).not.toContain('FAIL');
    expect(output).toContain(`rm -rf /sys/fs/bpf/${run.prefix}`);
    expect(output).toMatch(
      /demo passed: 2 pods, 5 pod interfaces, 4\/4 traffic checks passed, 3\/3 policy checks passed, nothing left behind/,
    );

    expect(run.prefix).toBeDefined();
    expect(leftovers(run.prefix!)).toEqual([]);
  });

  it('removes its namespaces and files when interrupted with Ctrl-C', async () => {
    const run = await runDemo(/ok {4}default\/alpha /);
    expect(run.code, run.output).toBe(130);
    expect(run.output).toContain('SIGINT: stopping the demo');
    expect(run.output).toMatch(/clean-up: ip netns del braid-demo-/);
    expect(run.output).not.toContain('demo passed');
    expect(run.prefix).toBeDefined();
    expect(leftovers(run.prefix!)).toEqual([]);
  });
});
