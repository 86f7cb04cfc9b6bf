import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Which containers have enforced interfaces, read from the registry's files alone. braid's DEL
 * asks this first so that a pod without policy programs never loads the libbpf bindings (koffi
 * costs a plugin process tens of milliseconds to load).
 */
export function ifacesDir(stateDir: string): string {
  return join(stateDir, 'ifaces');
}

export function hasEnforcedInterfaces(stateDir: string, containerId: string): boolean {
  let names: string[];
  try {
    names = readdirSync(ifacesDir(stateDir)).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return false;
  }
  return names.some((n) => {
    try {
      return (
        (JSON.parse(readFileSync(join(ifacesDir(stateDir), n), 'utf8')) as { containerId?: string }).containerId ===
        containerId
      );
    } catch {
      // An unreadable record: let the full detach path look at it.
      return true;
    }
  });
}

/**
 * Whether the policy store holds any policy at all, read without parsing: on a node without
 * policies an ADD decides that nothing selects its pod without loading the parser or libbpf.
 */
export function hasStoredPolicies(policyDir: string): boolean {
  if (!existsSync(policyDir)) return false;
  try {
    return readdirSync(policyDir).some((ns) => !ns.startsWith('_') && readdirSync(join(policyDir, ns)).length > 0);
  } catch {
    return false;
  }
}

/** Whether anything of braid's policy state exists for GC to look at (registry, pod entries or link pins). */
export function hasPolicyState(stateDir: string, bpfRoot: string): boolean {
  return (
    existsSync(ifacesDir(stateDir)) || existsSync(join(stateDir, 'pods')) || existsSync(join(bpfRoot, 'mnp', 'links'))
  );
}
