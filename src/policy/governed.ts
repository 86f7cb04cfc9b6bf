import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The index from policies to the interfaces they govern on this node:
 *   <stateDir>/governed/<encoded ns/name>/<ifaceId>   (empty files)
 * A new or departing pod changes other interfaces only through the policies that name it as a
 * peer; this index finds those interfaces with one readdir per policy instead of compiling
 * every interface of the node. It is kept under the policy lock beside the registry records,
 * each of which lists the policies it was last compiled with (IfaceRecord.policies).
 */
function indexDir(stateDir: string, policy: string): string {
  return join(stateDir, 'governed', encodeURIComponent(policy));
}

/** Brings the index from `before` to `after` for one interface. */
export function updateGoverned(
  stateDir: string,
  ifaceId: number,
  before: readonly string[],
  after: readonly string[],
): void {
  for (const p of before) if (!after.includes(p)) rmSync(join(indexDir(stateDir, p), String(ifaceId)), { force: true });
  for (const p of after) {
    if (before.includes(p)) continue;
    mkdirSync(indexDir(stateDir, p), { recursive: true, mode: 0o700 });
    writeFileSync(join(indexDir(stateDir, p), String(ifaceId)), '');
  }
}

/** Interface ids governed by any of `policies`. */
export function governedBy(stateDir: string, policies: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const p of policies) {
    let names: string[] = [];
    try {
      names = readdirSync(indexDir(stateDir, p));
    } catch {
      continue;
    }
    for (const n of names) if (/^\d+$/.test(n)) out.add(Number(n));
  }
  return out;
}
