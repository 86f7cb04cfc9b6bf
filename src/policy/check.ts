import { CniCode, CniError } from '../base/errors.ts';
import { compileInterface } from './compile.ts';
import { policyKey, type MultiNetworkPolicy } from './model.ts';
import { listRecords } from './registry.ts';
import { loadInputs, stateDirOf, targetPod, type PolicyRuntimeOptions } from './runtime.ts';

/**
 * Dry run of `policy apply`: the stored policies with the new ones in place, compiled for every
 * enforced interface of the node. Throws (and nothing is stored) when one of them cannot be
 * enforced, e.g. more distinct port sets than the program holds.
 */
export function checkPolicies(opts: PolicyRuntimeOptions, incoming: readonly MultiNetworkPolicy[]): void {
  const records = listRecords(stateDirOf(opts));
  const inputs = loadInputs(opts, records);
  const replaced = new Set(incoming.map(policyKey));
  const policies = [...inputs.policies.filter((p) => !replaced.has(policyKey(p))), ...incoming];
  const problems: string[] = [];
  for (const rec of records) {
    try {
      compileInterface(policies, inputs.view, {
        pod: targetPod(inputs.view, rec),
        network: rec.network,
        label: `${rec.pod.namespace}/${rec.pod.name} ${rec.ifname} on ${rec.network}`,
      });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length > 0) throw new CniError(CniCode.InvalidConfig, `policies not applied: ${problems.join('; ')}`);
}
