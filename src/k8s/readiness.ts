import { stat } from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * The readinessindicatorfile (NPWG 6.1.2): the cluster network writes it once it is ready, and
 * braid blocks ADD until then so that pods created right after a reboot still get every
 * interface (Multus #1387), instead of failing at once.
 */

/** node:fs's callback form: a plugin process that loaded node:fs/promises for this paid ~1.5 ms at start. */
function exists(path: string): Promise<boolean> {
  return new Promise((resolve) => stat(path, (err) => resolve(!err)));
}

/** Resolves once `path` exists; CNI code 11 when it does not appear within timeoutMs. */
export async function waitForReadinessFile(path: string, timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await exists(path)) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, remaining)));
  }
  throw new CniError(
    CniCode.TryAgainLater,
    `the cluster network is not ready: readinessindicatorfile ${path} did not appear within ${timeoutMs} ms; check that the cluster network's agent runs on this node`,
  );
}

/**
 * For STATUS: undefined when ready (or no file is configured), else the CNI error 50 ("plugin
 * not available") to report while the file is missing.
 */
export async function readinessStatus(path: string | undefined): Promise<CniError | undefined> {
  if (!path || (await exists(path))) return undefined;
  return new CniError(
    CniCode.NotAvailable,
    `the cluster network is not ready: readinessindicatorfile ${path} does not exist`,
  );
}
