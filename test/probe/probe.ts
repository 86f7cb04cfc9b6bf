/**
 * `npm run probe [-- --braid <path>] [--veth <path>] [--agent <path>]`: plays a hostile node
 * against a built braid (default dist/sea/braid; braid-veth and braid-agent default to the files
 * beside it) and prints one line per check and
 * `N passed, N failed`. Each check ends by verifying that nothing leaked: pod and node
 * interfaces, host-local leases, cache records, temp and lock files, policy records and pins.
 * Needs root; bounded to two minutes. Exit status 1 when any check failed.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AGENT_CHECKS } from './agent-checks.ts';
import { CHECKS } from './checks.ts';
import { ProbeBed } from './probe-bed.ts';

const BUDGET_MS = 115_000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? resolve(process.argv[i + 1]!) : undefined;
}

async function main(): Promise<number> {
  const braid = arg('braid') ?? resolve(process.env.BRAID_PROBE_BIN ?? 'dist/sea/braid');
  const others = { ...(arg('veth') ? { veth: arg('veth')! } : {}), ...(arg('agent') ? { agent: arg('agent')! } : {}) };
  if (process.getuid?.() !== 0) {
    console.error('probe: needs root (namespaces, tmpfs, setpriv)');
    return 2;
  }
  if (!existsSync(braid)) {
    console.error(`probe: ${braid} does not exist (npm run build:sea, or pass --braid <path>)`);
    return 2;
  }
  const bed = new ProbeBed(braid, others);
  const deadline = Date.now() + BUDGET_MS;
  let passed = 0;
  let failed = 0;
  console.log(`probe: ${braid}`);
  try {
    await bed.setUp();
    for (const check of [...CHECKS, ...AGENT_CHECKS]) {
      const left = deadline - Date.now();
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        if (left <= 0) throw new Error('no time left in the probe budget');
        await Promise.race([
          check.run(bed),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`still running after ${Math.round(left / 1000)} s`)), left);
          }),
        ]);
        passed++;
        console.log(`  ok    ${check.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`  FAIL  ${check.name}: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    await bed.cleanUp();
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

void main().then((rc) => {
  process.exitCode = rc;
});
