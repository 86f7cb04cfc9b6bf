import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { isSea } from 'node:sea';

/** Where this executable lives: the files it ships with (braid's binaries, braid-chroot) sit beside it. */
export function ownDir(): string {
  // A single executable is its own program (argv[1] is only the name it was started by); the
  // dist/bin launcher is a script that Node runs (argv[1]).
  const self = !isSea() && process.argv[1] && !process.argv[1].startsWith('-') ? process.argv[1] : process.execPath;
  return dirname(realpathSync(self));
}
