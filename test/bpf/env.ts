/**
 * Test environment for BPF and braid-veth tests: a throwaway bpffs pin root and throwaway
 * network namespaces, all with random names, all removed by their cleanup functions.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBpffs } from '../../src/bpf/pins.ts';

export const isRoot = process.getuid?.() === 0;
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const bpfObjectDir = process.env.BRAID_BPF_DIR ?? join(repoRoot, 'dist/bpf');

export function suffix(): string {
  return randomBytes(3).toString('hex');
}

/** Compiles bpf/*.c into dist/bpf (cheap; keeps tests honest about the current sources). */
export function buildBpfObjects(): void {
  if (process.env.BRAID_BPF_DIR) return;
  execFileSync('bash', [join(repoRoot, 'scripts/build-bpf.sh')], { stdio: 'pipe' });
}

export interface PinRoot {
  /** Directory to use as bpfRoot / pin_root_path. */
  path: string;
  cleanup(): void;
}

/**
 * `/sys/fs/bpf/braid-test-<random>` when /sys/fs/bpf is a bpffs; otherwise a private bpffs
 * mounted on a temp directory for the duration of the test (unmounted by cleanup).
 */
export function makePinRoot(): PinRoot {
  const name = `braid-test-${suffix()}`;
  if (isBpffs('/sys/fs/bpf')) {
    const path = join('/sys/fs/bpf', name);
    return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
  }
  const mnt = mkdtempSync(join(tmpdir(), 'braid-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', mnt]);
  return {
    path: join(mnt, name),
    cleanup: () => {
      try {
        rmSync(join(mnt, name), { recursive: true, force: true });
      } finally {
        execFileSync('umount', [mnt]);
        rmdirSync(mnt);
      }
    },
  };
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `ip netns add <prefix>-<random>`; returns the name (path: /run/netns/<name>). */
export function addNetns(prefix = 'braid-t'): string {
  const name = `${prefix}-${suffix()}`;
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function delNetns(name: string): void {
  if (existsSync(`/run/netns/${name}`)) {
    try {
      sh('ip', ['netns', 'del', name]);
    } catch {
      // already gone
    }
  }
}

/** Runs a command in a namespace with nsenter (unlike `ip netns exec`, keeps the host bpffs). */
export function inNetns(name: string, cmd: string, args: string[], input?: string): string {
  return sh('nsenter', [`--net=/run/netns/${name}`, cmd, ...args], input);
}

export function ipJson<T = unknown>(ns: string, ...args: string[]): T {
  return JSON.parse(sh('ip', ['-n', ns, '-j', ...args]) || '[]') as T;
}
