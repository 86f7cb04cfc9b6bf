import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniCode, CniError } from '../base/errors.ts';
import { PATHS } from '../base/defaults.ts';

/**
 * The demo's files. examples/demo holds the braid conf, the cluster network, NAD and pod manifests
 * with placeholders; the demo copies it into a fresh directory and fills them in:
 *   @DATA@     that directory (cache, host-local dataDir, NAD dir, pod store)
 *   @CNI_BIN@  the directory holding the CNI reference plugins
 *   @BPF_ROOT@ the pin root of the policy datapath, a fresh directory on a bpffs (see bpffs.ts)
 */

/** The delegates the demo's networks use. */
const REQUIRED_PLUGINS = ['bridge', 'host-local', 'macvlan', 'host-device', 'static'];
const CNI_BIN_CANDIDATES = ['/usr/lib/cni', PATHS.binDir];
const PLACEHOLDER = /@[A-Z_]+@/;

export interface Workspace {
  /** The temp directory (@DATA@). */
  dir: string;
  confFile: string;
  cacheDir: string;
  ipamDir: string;
  podDir: string;
  cniBin: string;
  /** The MultiNetworkPolicy manifests the demo applies (examples/demo/policies). */
  policiesDir: string;
  /** braid's local policy store (the conf's policy.policyDir). */
  policyStoreDir: string;
  bpfRoot: string;
}

/**
 * The checkout braid runs from: the first directory above this code that holds examples/demo.
 * The built binary runs from dist/, the sources from src/demo/; both find it.
 */
export function findCheckout(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'examples', 'demo', 'braid.conflist'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new CniError(
        CniCode.IoFailure,
        `the demo needs examples/demo/ of the braid checkout; none above ${fileURLToPath(import.meta.url)}`,
      );
    }
    dir = parent;
  }
}

export function braidBinary(checkout: string): string {
  const bin = path.join(checkout, 'dist', 'bin', 'braid');
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new CniError(CniCode.IoFailure, `${bin} is missing or not executable: run \`npm run build\` first`);
  }
  return bin;
}

/** The first directory (CNI_PATH first) that has every plugin the demo needs. */
export function findCniBin(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [...(env.CNI_PATH ?? '').split(':').filter((d) => d !== ''), ...CNI_BIN_CANDIDATES];
  const hasAll = (dir: string) => REQUIRED_PLUGINS.every((p) => existsSync(path.join(dir, p)));
  const found = candidates.find(hasAll);
  if (!found) {
    throw new CniError(
      CniCode.IoFailure,
      `the demo needs the CNI reference plugins ${REQUIRED_PLUGINS.join(', ')}; none of ${candidates.join(', ')} has them all. ` +
        'Install containernetworking-plugins (scripts/setup.sh does) or set CNI_PATH',
    );
  }
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

/** Creates <tmpdir>/braid-demo-<suffix> from examples/demo with the placeholders filled in. */
export function prepareWorkspace(checkout: string, suffix: string, cniBin: string, bpfRoot: string): Workspace {
  const dir = path.join(tmpdir(), `braid-demo-${suffix}`);
  mkdirSync(dir, { mode: 0o700 });
  // The README describes the placeholders; it is not part of the scenario.
  cpSync(path.join(checkout, 'examples', 'demo'), dir, {
    recursive: true,
    filter: (src) => path.basename(src) !== 'README.md',
  });
  for (const file of filesUnder(dir)) {
    const text = readFileSync(file, 'utf8')
      .replaceAll('@DATA@', dir)
      .replaceAll('@CNI_BIN@', cniBin)
      .replaceAll('@BPF_ROOT@', bpfRoot);
    const left = PLACEHOLDER.exec(text);
    if (left)
      throw new CniError(
        CniCode.InvalidConfig,
        `${file}: unknown placeholder ${left[0]} (the demo fills in @DATA@, @CNI_BIN@ and @BPF_ROOT@)`,
      );
    writeFileSync(file, text);
  }
  return {
    dir,
    confFile: path.join(dir, 'braid.conflist'),
    cacheDir: path.join(dir, 'cache'),
    ipamDir: path.join(dir, 'ipam'),
    podDir: path.join(dir, 'pods'),
    cniBin,
    policiesDir: path.join(dir, 'policies'),
    policyStoreDir: path.join(dir, 'policy-store'),
    bpfRoot,
  };
}

/** Files directly in dir (not in subdirectories); none when dir does not exist. */
export function plainFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isFile());
}
