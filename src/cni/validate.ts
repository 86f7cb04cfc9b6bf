import { CniCode, CniError } from '../base/errors.ts';

/** CNI's identifier rule for container IDs and network names (`pkg/utils/utils.go`). */
const CNI_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Longest interface name the kernel accepts (IFNAMSIZ - 1), in bytes. */
const MAX_IFNAME_BYTES = 15;

/**
 * Longest container ID braid takes, in bytes: braid's file names carry it (the cache record
 * `<id>-<ifname>.json` and its `.corrupt-<ms>` copy, the lock `<id>.lock`), and a file name may
 * not exceed 255 bytes (NAME_MAX). Runtimes use 64 hex digits.
 */
export const MAX_CONTAINER_ID_BYTES = 200;

/** A3: empty means "no container" (code 3); anything outside the identifier rule or too long is code 4. */
export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(CniCode.UnknownContainer, 'missing containerID');
  if (Buffer.byteLength(id) > MAX_CONTAINER_ID_BYTES) {
    throw new CniError(
      CniCode.InvalidEnv,
      `containerID is ${Buffer.byteLength(id)} bytes long; braid accepts at most ${MAX_CONTAINER_ID_BYTES} (its state file names must fit the 255-byte file name limit)`,
    );
  }
  if (!CNI_ID.test(id)) {
    throw new CniError(CniCode.InvalidEnv, `invalid characters in containerID "${id}": it must match ${CNI_ID.source}`);
  }
}

/** A4: names the kernel would refuse or that are unsafe as path components. */
export function validateIfname(name: string): void {
  const fail = (why: string): never => {
    throw new CniError(CniCode.InvalidEnv, `interface name ${JSON.stringify(name)} ${why}`);
  };
  if (name === '') fail('is empty');
  if (Buffer.byteLength(name, 'utf8') > MAX_IFNAME_BYTES) fail(`is longer than ${MAX_IFNAME_BYTES} bytes`);
  if (name === '.' || name === '..') fail('is "." or ".."');
  if (/[/:\s]/.test(name)) fail('contains "/", ":" or whitespace');
}

/** A5/I1: a network name must be present and follow the identifier rule (code 7). */
export function validateNetworkName(name: unknown, where = 'network config'): void {
  if (name === undefined || name === null || name === '') {
    throw new CniError(CniCode.InvalidConfig, `missing network name in ${where}`);
  }
  if (typeof name !== 'string' || !CNI_ID.test(name)) {
    throw new CniError(
      CniCode.InvalidConfig,
      `invalid network name ${JSON.stringify(name)} in ${where}: it must match ${CNI_ID.source}`,
    );
  }
}
