// Builds braid's binaries: `npm run build` runs it after `npm run gen`.
//
// For every cmd/<name>.ts it writes
//   dist/<name>.mjs      the ESM bundle (node24) of that entry; koffi stays external (a native module)
//   dist/chunk-*.mjs     code the entries load with a dynamic import(), split out by esbuild; beside the
//                        entries so that import.meta.url means dist/ in every file
//   dist/proto/          the .proto files src/k8s loads at run time
//   dist/bin/<name>      an executable launcher: `#!<repo>/node_modules/node/bin/node`, then it turns on
//                        Node's compile cache and imports dist/<name>.mjs
//   dist/host/           what `braid install` copies into a node's CNI bin dir (scripts/build-front.mjs):
//                        `braid`, the native front door (cmd/braid-front/*.c, clang, static), and as
//                        the Node implementation behind it `braid-node` and `braid-veth`, launchers like
//                        dist/bin's (`npm run build:sea` makes them the single executable instead)
//   dist/bin/braid-chroot a static C program (cmd/braid-chroot.c) braid-agent --host-root starts
//                        delegates through
//   dist/bin/braid-launch and dist/host/braid-launch: a static C program (cmd/braid-launch.c) that
//                        sets a delegate's parent-death signal and execs it (instead of setpriv)
//   dist/native/braid-native.node  braid's Node-API addon (native/braid-native.c): posix_spawn, the
//                        interface list of a namespace, _exit; the bundles find it beside themselves
// and then runs scripts/build-bpf.sh when it exists (bpf/*.c -> dist/bpf/).
//
// Why a launcher instead of the bundle behind a shebang: a CNI plugin process starts once per pod and
// verb, so start-up time matters. `module.enableCompileCache()` only helps modules compiled after
// the call, and a bundle's own source is compiled before its first line runs; so the call has to sit
// in a small file that imports the bundle afterwards. The launcher also keeps `import.meta.url` of
// the running code at dist/<name>.mjs whichever way the binary is called. The shebang names Node 24
// by absolute path so that a runtime that execs the plugin by path needs no PATH setup.
// Code splitting lets a short verb (VERSION, DEL) skip parsing what only a dynamic import() needs;
// koffi alone costs ~40 ms to load, so entries should import it (and other heavy parts) lazily.
//
// Options (for testing the build itself): --cmd-dir <dir> (default cmd/), --out-dir <dir> (default
// dist/), --skip-bpf, --measure (after building, time `bin/braid` with CNI_COMMAND=VERSION against
// `node -e 0`).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FRONT_DOOR,
  LAUNCHER,
  NODE_IMPL,
  buildFrontDoor,
  buildLauncher,
  buildNativeAddon,
  writeExecutable,
} from './build-front.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: options } = parseArgs({
  options: {
    'cmd-dir': { type: 'string' },
    'out-dir': { type: 'string' },
    'skip-bpf': { type: 'boolean', default: false },
    measure: { type: 'boolean', default: false },
  },
});
const cmdDir = path.resolve(options['cmd-dir'] ?? path.join(repoRoot, 'cmd'));
const outDir = path.resolve(options['out-dir'] ?? path.join(repoRoot, 'dist'));
const nodeModules = path.join(repoRoot, 'node_modules');
const nodeBinary = path.join(nodeModules, 'node', 'bin', 'node');
// Linux reads at most BINPRM_BUF_SIZE (256) bytes of a `#!` line, 128 before 5.1; stay under both.
const SHEBANG_LIMIT = 127;

/** Native modules cannot be bundled; they are imported from the repo's node_modules by file URL. */
const nativeModules = /^koffi(\/.*)?$/;

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** Keeps native modules out of the bundle and pins them to this checkout's node_modules. */
const externalNativeModules = {
  name: 'external-native-modules',
  setup(builder) {
    const requireFromRepo = createRequire(path.join(repoRoot, 'package.json'));
    builder.onResolve({ filter: nativeModules }, (args) => ({
      path: pathToFileURL(requireFromRepo.resolve(args.path)).href,
      external: true,
    }));
  },
};

// Bundled CommonJS dependencies call require(), __filename and __dirname, which ESM lacks.
const esmBanner = [
  "import { createRequire as __braidCreateRequire } from 'node:module';",
  "import { dirname as __braidDirname } from 'node:path';",
  "import { fileURLToPath as __braidFileURLToPath } from 'node:url';",
  'const require = __braidCreateRequire(import.meta.url);',
  'const __filename = __braidFileURLToPath(import.meta.url);',
  'const __dirname = __braidDirname(__filename);',
].join('\n');

/**
 * The launcher's body. The cache directory lives in a world-writable place, and the plugin runs as
 * root: a cache someone else planted would be loaded as code, so the cache is used only when the
 * directory is a real directory owned by us and writable by nobody else.
 */
function launcherSource(bundlePath) {
  return `// Generated by scripts/build.mjs: turns on Node's compile cache, then runs the bundle.
import { enableCompileCache } from 'node:module';
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
try {
  const dir = join(tmpdir(), 'braid-compile-cache');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (st.isDirectory() && st.uid === process.getuid() && (st.mode & 0o022) === 0) enableCompileCache(dir);
} catch {
  // no cache: slower start, same behaviour
}
await import(${JSON.stringify(pathToFileURL(bundlePath).href)});
`;
}

async function entryPoints() {
  if (!existsSync(cmdDir)) return [];
  const files = await readdir(cmdDir);
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.ts'.length), file: path.join(cmdDir, f) }));
}

async function bundle(entries) {
  // esbuild prints its own errors (logLevel); the thrown error would only repeat them with a stack.
  const result = await build({
    entryPoints: Object.fromEntries(entries.map((e) => [e.name, e.file])),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    platform: 'node',
    format: 'esm',
    target: 'node24',
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    minifySyntax: true,
    sourcemap: 'linked',
    nodePaths: [nodeModules],
    plugins: [externalNativeModules],
    banner: { js: esmBanner },
    metafile: true,
    logLevel: 'warning',
  }).catch(() => fail('esbuild failed; see the errors above'));
  await removeStaleChunks(Object.keys(result.metafile.outputs).map((f) => path.basename(f)));
}

/**
 * Chunk names carry a content hash, so each build leaves the previous build's chunks behind. They
 * are removed after the new ones are written, so that a plugin starting meanwhile still finds its own.
 */
async function removeStaleChunks(written) {
  const keep = new Set(written);
  const stale = (await readdir(outDir)).filter((f) => f.startsWith('chunk-') && !keep.has(f));
  await Promise.all(stale.map((f) => rm(path.join(outDir, f))));
}

async function writeLaunchers(entries) {
  const shebang = `#!${nodeBinary}`;
  if (!existsSync(nodeBinary)) fail(`${nodeBinary} is missing: run scripts/setup.sh (npm ci installs Node 24)`);
  if (shebang.length > SHEBANG_LIMIT) {
    fail(
      `the shebang "${shebang}" is ${shebang.length} bytes; Linux allows ${SHEBANG_LIMIT}: move the checkout to a shorter path`,
    );
  }
  const binDir = path.join(outDir, 'bin');
  await mkdir(binDir, { recursive: true });
  for (const { name } of entries) {
    const launcher = path.join(binDir, name);
    await writeFile(launcher, `${shebang}\n${launcherSource(path.join(outDir, `${name}.mjs`))}`);
    await chmod(launcher, 0o755);
  }
}

/** dist/host: the front door, and launchers of the Node implementation under the names it execs. */
async function writeHostDir(entries) {
  const hostDir = path.join(outDir, 'host');
  await mkdir(hostDir, { recursive: true });
  await buildFrontDoor(path.join(hostDir, FRONT_DOOR)).catch((e) => fail(`the front door did not build: ${e.message}`));
  for (const dir of [hostDir, path.join(outDir, 'bin')])
    await buildLauncher(path.join(dir, LAUNCHER)).catch((e) => fail(`${LAUNCHER} did not build: ${e.message}`));
  const names = new Set(entries.map((e) => e.name));
  for (const [name, entry] of [
    [NODE_IMPL, 'braid'],
    ['braid-veth', 'braid-veth'],
  ]) {
    if (!names.has(entry)) continue;
    await writeExecutable(
      path.join(hostDir, name),
      `#!${nodeBinary}\n${launcherSource(path.join(outDir, `${entry}.mjs`))}`,
    );
  }
}

/** Data files that modules find next to themselves (`new URL('./proto/x.proto', import.meta.url)`). */
async function copyDataFiles() {
  const protoDir = path.join(repoRoot, 'src', 'k8s', 'proto');
  if (!existsSync(protoDir)) return;
  await cp(protoDir, path.join(outDir, 'proto'), { recursive: true });
}

function buildBpf() {
  const script = path.join(repoRoot, 'scripts', 'build-bpf.sh');
  if (!existsSync(script)) return;
  const run = spawnSync('bash', [script], { cwd: repoRoot, stdio: 'inherit' });
  if (run.status !== 0) fail(`scripts/build-bpf.sh exited with ${run.status ?? run.signal}`);
}

/** cmd/braid-chroot.c, static: it runs inside a FROM-scratch image and chroots into any host. */
function buildChrootHelper() {
  const source = path.join(cmdDir, 'braid-chroot.c');
  if (!existsSync(source)) return;
  const out = path.join(outDir, 'bin', 'braid-chroot');
  const run = spawnSync('clang', ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, source], {
    stdio: 'inherit',
  });
  if (run.status !== 0)
    fail(`clang could not build ${source} (exit ${run.status ?? run.signal}); a static build needs libc6-dev`);
}

/** Start times of `bin/braid` VERSION and of `node -e 0`, side by side (scripts/time-start.py). */
function measureStart() {
  const braid = path.join(outDir, 'bin', 'braid');
  if (!existsSync(braid)) fail(`--measure needs ${braid}`);
  const pairs = [`node -e 0=${nodeBinary}`, `bin/braid VERSION=${braid}`];
  const run = spawnSync('python3', [path.join(repoRoot, 'scripts', 'time-start.py'), ...pairs], { stdio: 'inherit' });
  if (run.status !== 0) fail('timing failed');
}

const entries = await entryPoints();
if (entries.length === 0) {
  console.log(`build: no entry files in ${cmdDir}; nothing to bundle`);
} else {
  await bundle(entries);
  await writeLaunchers(entries);
  await copyDataFiles();
  await writeHostDir(entries);
  await buildNativeAddon(path.join(outDir, 'native', 'braid-native.node')).catch((e) =>
    fail(`the native addon did not build: ${e.message}`),
  );
  buildChrootHelper();
  console.log(`build: ${entries.map((e) => `bin/${e.name}`).join(', ')}, host/ -> ${outDir}`);
}
if (!options['skip-bpf']) buildBpf();
if (options.measure) measureStart();
