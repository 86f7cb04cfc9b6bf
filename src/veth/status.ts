import { CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import { pinDirProblem } from '../bpf/pins.ts';
import { parseVethConfig } from './config.ts';
import { objectPath, pinDir } from './datapath.ts';
import { runIpamForPlugin } from './ipam.ts';

/**
 * The IPAM plugin's own readiness: found in CNI_PATH and, if it speaks 1.1.0, answering STATUS.
 * Its "not available" answers are passed on as they are (F3). CNI_PATH is optional for STATUS:
 * without it the plugin cannot be located, only trusted.
 */
async function ipamProblem(req: CniRequest): Promise<string | undefined> {
  if (req.path.length === 0) return undefined;
  try {
    await runIpamForPlugin('STATUS', req);
    return undefined;
  } catch (e) {
    if (e instanceof CniError && (e.code === CniCode.NotAvailable || e.code === CniCode.LimitedConnectivity)) throw e;
    return (e as Error).message;
  }
}

/**
 * STATUS (F1-F3): ready for ADD when pins can be made under bpfRoot, the datapath object is
 * installed and the IPAM plugin is ready.
 */
export async function vethStatus(req: CniRequest): Promise<void> {
  const conf = parseVethConfig(req.config, req.cniVersion);
  const problems: string[] = [];
  const bpffs = pinDirProblem(pinDir(conf.bpfRoot));
  if (bpffs) problems.push(bpffs);
  try {
    objectPath();
  } catch (e) {
    problems.push((e as Error).message);
  }
  const ipam = await ipamProblem(req);
  if (ipam) problems.push(ipam);
  if (problems.length > 0) {
    throw new CniError(
      CniCode.NotAvailable,
      `braid-veth network "${conf.name}" cannot add pods: ${problems.join('; ')}`,
    );
  }
}
