// Builds braid's native front door (cmd/braid-front/*.c) and lays out a host directory: what
// `braid install` copies into a node's CNI bin dir. Used by scripts/build.mjs (dist/host with the
// dist/bin-style launchers as the Node implementation) and scripts/build-sea.mjs (dist/host with
// the single executable).
//
//   <host>/braid        the front door: static C, no dependency (see docs/front-door.md)
//   <host>/braid-node   braid's Node implementation, which the front door execs for thin mode and the CLI
//   <host>/braid-veth   the braid-veth plugin
//   <host>/braid-launch the delegate launcher (cmd/braid-launch.c, static): sets the parent-death
//                       signal and execs a delegate; braid uses it instead of setpriv when it is
//                       beside braid's executable
//
// Every file is written beside its target and renamed over it: a plugin being run is never
// rewritten, and a name that was a hard link of the single executable is replaced, not written
// through (which would change the single executable itself).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chmod, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = path.join(repoRoot, 'cmd', 'braid-front');
export const FRONT_DOOR = 'braid';
export const NODE_IMPL = 'braid-node';
export const LAUNCHER = 'braid-launch';
export const HOST_NAMES = [FRONT_DOOR, NODE_IMPL, 'braid-veth', LAUNCHER];

const staging = (target) => path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);

/**
 * Compiles the front door into `target`. Statically linked: it runs on a host whatever its libc,
 * starts without the dynamic loader's work, and depends on nothing.
 */
export async function buildFrontDoor(target) {
  const sources = readdirSync(sourceDir)
    .filter((f) => f.endsWith('.c'))
    .sort()
    .map((f) => path.join(sourceDir, f));
  await buildStatic(sources, target);
}

/** Compiles cmd/braid-launch.c into `target`, static for the same reasons as the front door. */
export async function buildLauncher(target) {
  await buildStatic([path.join(repoRoot, 'cmd', `${LAUNCHER}.c`)], target);
}

/**
 * Compiles braid's Node-API addon (native/braid-native.c) into `target`: a shared object, linked
 * against the host's glibc (2.34 or newer), its napi_* symbols resolved from the Node binary that
 * loads it. The headers are those of the pinned Node (the `node` devDependency ships them).
 */
export async function buildNativeAddon(target) {
  const requireFromRepo = createRequire(path.join(repoRoot, 'package.json'));
  const nodePackage = path.dirname(requireFromRepo.resolve('node/package.json'));
  const include = path.join(nodePackage, 'node_modules', `node-linux-${process.arch}`, 'include', 'node');
  if (!existsSync(path.join(include, 'node_api.h')))
    throw new Error(`no Node-API headers in ${include} (npm ci installs them)`);
  await compile([path.join(repoRoot, 'native', 'braid-native.c')], target, ['-shared', '-fPIC', `-I${include}`]);
}

async function buildStatic(sources, target) {
  await compile(sources, target, ['-static']);
}

async function compile(sources, target, flags) {
  await mkdir(path.dirname(target), { recursive: true });
  const temp = staging(target);
  const cc = process.env.CC ?? 'clang';
  const args = [
    ...flags,
    '-O2',
    '-s',
    '-std=c11',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-D_FORTIFY_SOURCE=2',
    '-o',
    temp,
    ...sources,
  ];
  const run = spawnSync(cc, args, { stdio: 'inherit' });
  if (run.status !== 0) {
    await rm(temp, { force: true });
    throw new Error(`${cc} ${args.join(' ')} exited with ${run.status ?? run.signal}`);
  }
  await chmod(temp, 0o755);
  await rename(temp, target);
}

/** Writes `text` as an executable at `target` (a launcher script). */
export async function writeExecutable(target, text) {
  const temp = staging(target);
  await writeFile(temp, text, { mode: 0o755 });
  await chmod(temp, 0o755);
  await rename(temp, target);
}

/** Makes `target` a hard link of `source`, replacing whatever was there. */
export async function linkInto(source, target) {
  const temp = staging(target);
  await rm(temp, { force: true });
  await link(source, temp);
  await rename(temp, target);
}
