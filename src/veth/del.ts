import { CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import { ipamCallOf } from './add.ts';
import { parseVethConfig } from './config.ts';
import { runIpam } from './ipam.ts';
import { hostVethName } from './names.ts';
import { removeRecord } from './state.ts';
import { teardown } from './teardown.ts';

/** Joins several failures into one error that keeps the first one's code. */
export function combined(what: string, errors: Error[], code?: number): CniError {
  const first = errors[0];
  code ??= first instanceof CniError ? first.code : CniCode.Internal;
  return new CniError(code, `${what}: ${errors.map((e) => e.message).join('; ')}`);
}

/**
 * DEL: idempotent, best effort, with the pod's namespace present or gone (D1, D2). The record is
 * kept when the IPAM plugin could not release the address, so that GC can retry.
 */
export async function vethDel(req: CniRequest): Promise<void> {
  const conf = parseVethConfig(req.config, req.cniVersion);
  const errors = teardown(conf, req.containerId, req.ifname);
  try {
    await runIpam({ ...ipamCallOf(req), command: 'DEL' });
  } catch (e) {
    errors.push(e as Error);
  }
  if (errors.length === 0) removeRecord(conf.stateDir, hostVethName(conf.hostVethPrefix, req.containerId, req.ifname));
  if (errors.length > 0) throw combined(`braid-veth DEL of ${req.containerId}/${req.ifname} incomplete`, errors);
}
