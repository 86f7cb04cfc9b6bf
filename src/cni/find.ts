import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * M1: the first regular file named `type` in the CNI_PATH directories, searched in order, as
 * libcni's `FindInPath` does. A type with a path separator could escape the bin dirs. With a
 * `root` (braid-agent --host-root), the directories are the host's, looked up under that root.
 */
export function findPlugin(type: string, dirs: readonly string[], root = ''): string {
  if (type === '') throw new CniError(CniCode.InvalidConfig, 'plugin "type" is missing or empty');
  if (type.includes('/') || type.includes('\\')) {
    throw new CniError(CniCode.InvalidConfig, `invalid plugin type "${type}": it must be a file name, not a path`);
  }
  for (const dir of dirs) {
    const candidate = join(dir, type);
    try {
      if (statSync(root === '' ? candidate : join(root, candidate)).isFile()) return candidate;
    } catch {
      // Missing or unreadable: keep looking, as libcni does.
    }
  }
  const where = root === '' ? '' : ` under host root ${root}`;
  throw new CniError(CniCode.InvalidConfig, `failed to find plugin "${type}" in path [${dirs.join(' ')}]${where}`);
}
