import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownDir } from '../base/own-dir.ts';

/**
 * A delegate's process, as braid records it before the delegate acts: the pid (which is also
 * its process group, as every delegate leads its own session) and the kernel's start time of
 * that pid, so that a later call never signals a process that merely reuses the number.
 */
export interface DelegateProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTime: string;
}

/** State letter, process group and start time of a process; undefined when it is gone. */
function statOf(pid: number | string): { state: string; pgrp: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', pgrp: rest[2] ?? '', startTime: rest[19] ?? '' };
}

export function processStartTime(pid: number): string | undefined {
  return statOf(pid)?.startTime;
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function leaderAlive(proc: DelegateProcess): boolean {
  const st = statOf(proc.pid);
  return st !== undefined && st.startTime === proc.startTime && st.state !== 'Z';
}

/**
 * Stops a recorded delegate and everything it forked, if any of it still runs; resolves once the
 * group is gone (or after `waitMs`). A leader that is the recorded process (same start time) is
 * ours; a dead leader cannot have its pid reused while members of its group live, so surviving
 * members are ours too. Returns whether anything was signalled.
 */
export async function stopDelegate(proc: DelegateProcess, waitMs = 2_000): Promise<boolean> {
  const st = statOf(proc.pid);
  if (st !== undefined && st.startTime !== proc.startTime) return false;
  if (!groupExists(proc.pid)) return false;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    return false;
  }
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && (leaderAlive(proc) || groupHasLiveMembers(proc.pid))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Whether a process of the group still runs: zombies keep a group existing until reaped. */
function groupHasLiveMembers(pgid: number): boolean {
  if (!groupExists(pgid)) return false;
  return readdirSync('/proc').some((name) => {
    if (!/^\d+$/.test(name)) return false;
    const st = statOf(name);
    return st !== undefined && st.pgrp === String(pgid) && st.state !== 'Z';
  });
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];
/** braid's own launcher (cmd/braid-launch.c), shipped beside braid's executables. */
export const LAUNCHER_NAME = 'braid-launch';

/**
 * The launcher that gives a delegate a parent-death signal, so the delegate dies with braid (Node
 * cannot set it for a child itself): braid-launch from one of `dirs` (static, it costs an exec and
 * nothing else), else util-linux setpriv (2.33+), which sets PR_SET_PDEATHSIG and then execs the
 * delegate but is dynamically linked. Undefined when neither is installed: the recorded process
 * group is then the only guard.
 */
export function findPdeathsigLauncher(dirs: string[], setprivPaths = SETPRIV_PATHS): string[] | undefined {
  for (const dir of dirs) {
    const own = join(dir, LAUNCHER_NAME);
    try {
      accessSync(own, constants.X_OK);
      return [own];
    } catch {
      // Not shipped here.
    }
  }
  for (const p of setprivPaths) {
    try {
      if (existsSync(p) && readFileSync(p).includes('pdeathsig')) return [p, '--pdeathsig', 'KILL', '--'];
    } catch {
      // Unreadable: try the next.
    }
  }
  return undefined;
}

/** findPdeathsigLauncher beside this executable, looked up once per process. */
let launcher: string[] | null | undefined;

export function pdeathsigLauncher(): string[] | undefined {
  if (launcher === undefined) {
    let dirs: string[] = [];
    try {
      dirs = [ownDir()];
    } catch {
      // No resolvable own path: setpriv only.
    }
    launcher = findPdeathsigLauncher(dirs) ?? null;
  }
  return launcher ?? undefined;
}
