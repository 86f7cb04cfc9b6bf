// Builds braid's host binaries as one Node 24 single-executable application (SEA): the host that
// runs them needs no Node.js. `npm run build:sea` runs it; scripts/setup.sh calls it after the build.
//
// It writes
//   dist/sea/braid         the executable: Node 24 with braid's code and data files injected
//   dist/sea/braid-veth    hard links to the same file; the code picks its command from the name it
//   dist/sea/braid-agent   was started by (busybox style), so the three cost the disk one binary
// and, as intermediate files, dist/sea/.build/{braid.cjs,manifest.json,sea-config.json,braid.blob}. It then lays out
//   dist/host/             what `braid install` copies into a node's CNI bin dir: `braid`, the native
//                          front door (scripts/build-front.mjs), with `braid-node` and `braid-veth` as
//                          hard links of the single executable (`braid-node` runs the braid command)
//
// Why one multi-call binary: every SEA carries the whole Node runtime (~120 MiB); three would put
// 360 MiB into /opt/cni/bin. Why CommonJS and no code splitting: Node 24 runs only one CommonJS
// script from the blob, and its require() loads only builtins. The commands' own modules stay
// lazy: esbuild turns each dynamic import() into a deferred initialiser, so `braid` VERSION runs
// none of braid-agent's module code.
//
// Data files (the BPF objects, the PodResources .proto, koffi's addon, braid's own addon from
// `npm run build`) travel as SEA assets and are
// written out on first use by src/base/sea-assets.ts. koffi's `require('./build/koffi/<triplet>/
// koffi.node')` is pointed at that file through process.dlopen().
//
// The SEA's main script is scripts/sea-main.cjs; the bundle travels as the asset braid.cjs, one
// function expression (banner and footer below) that sea-main compiles with a V8 code cache per
// plugin verb, written by the first call of the verb (see sea-main.cjs for why neither Node's
// useCodeCache nor a startup snapshot). The build id in manifest.json covers the bundle, so a
// cache never outlives its build.
//
// Options: --out-dir <dir> (default dist/sea), --host-dir <dir> (default dist/host), --measure (time VERSION of the SEA, the dist/bin
// launcher and `node -e 0` side by side).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FRONT_DOOR, LAUNCHER, NODE_IMPL, buildFrontDoor, buildLauncher, linkInto } from './build-front.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: options } = parseArgs({
  options: {
    'out-dir': { type: 'string' },
    'host-dir': { type: 'string' },
    measure: { type: 'boolean', default: false },
  },
});
const outDir = path.resolve(options['out-dir'] ?? path.join(repoRoot, 'dist', 'sea'));
const hostDir = path.resolve(options['host-dir'] ?? path.join(repoRoot, 'dist', 'host'));
const workDir = path.join(outDir, '.build');
const nodeBinary = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const requireFromRepo = createRequire(path.join(repoRoot, 'package.json'));
// The fuse Node's SEA loader looks for; postject flips it once the blob is in.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const COMMANDS = ['braid', 'braid-veth', 'braid-agent'];
// The SEA's main script: it runs the bundle, which travels as the asset BUNDLE_ASSET, with a code
// cache per plugin verb (see the file).
const seaMain = path.join(repoRoot, 'scripts', 'sea-main.cjs');
const BUNDLE_ASSET = 'braid.cjs';
const BUNDLE_PARAMS = 'require, module, exports, __filename, __dirname';
const PRIMARY = 'braid';

function fail(message) {
  console.error(`build-sea: ${message}`);
  process.exit(1);
}

const triplet = `${process.platform}_${process.arch}`;
const koffiIndex = requireFromRepo.resolve('koffi');
const seaAssetsModule = JSON.stringify(path.join(repoRoot, 'src', 'base', 'sea-assets.ts'));
const koffiAddon = path.join(path.dirname(koffiIndex), 'build', 'koffi', triplet, 'koffi.node');
const assetFiles = {
  'veth.o': path.join(repoRoot, 'dist', 'bpf', 'veth.o'),
  'mnp.o': path.join(repoRoot, 'dist', 'bpf', 'mnp.o'),
  'podresources-v1.proto': path.join(repoRoot, 'src', 'k8s', 'proto', 'podresources-v1.proto'),
  'koffi.node': koffiAddon,
  'braid-native.node': path.join(repoRoot, 'dist', 'native', 'braid-native.node'),
};

/**
 * Picks the command from the executable's own name; anything else (a renamed copy, and `braid-node`,
 * the name the front door execs it by) is `braid`.
 */
const entrySource = `
const name = require('node:path').basename(process.execPath);
${COMMANDS.filter((c) => c !== PRIMARY)
  .map((c) => `if (name === ${JSON.stringify(c)}) import(${JSON.stringify(`./cmd/${c}.ts`)});\nelse `)
  .join('')}import(${JSON.stringify(`./cmd/${PRIMARY}.ts`)});
`;

/** koffi's addon for this machine comes from the SEA's assets; other platforms' are not carried. */
const nativeAddonsFromAssets = {
  name: 'native-addons-from-assets',
  setup(builder) {
    // koffi swallows whatever its require() of the addon throws and reports only "Cannot find the
    // native Koffi module"; writing the assets out before koffi loads lets sea-assets' own error
    // (which names the directory and BRAID_ASSET_DIR) reach the caller instead.
    builder.onResolve({ filter: /^koffi$/ }, () => ({ path: 'koffi', namespace: 'sea-koffi' }));
    builder.onLoad({ filter: /.*/, namespace: 'sea-koffi' }, () => ({
      contents: [
        `require(${seaAssetsModule}).bundledAsset('koffi.node');`,
        `module.exports = require(${JSON.stringify(koffiIndex)});`,
      ].join('\n'),
      loader: 'js',
      resolveDir: repoRoot,
    }));
    builder.onResolve({ filter: /\.node$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path),
      namespace: 'sea-native',
    }));
    builder.onLoad({ filter: /.*/, namespace: 'sea-native' }, (args) => {
      if (path.resolve(args.path) !== koffiAddon) {
        return {
          contents: `throw new Error(${JSON.stringify(`${args.path} is not carried by this single executable`)});`,
          loader: 'js',
        };
      }
      const contents = [
        `const { bundledAsset } = require(${seaAssetsModule});`,
        'const addon = { exports: {} };',
        "process.dlopen(addon, bundledAsset('koffi.node'));",
        'module.exports = addon.exports;',
      ].join('\n');
      return { contents, loader: 'js', resolveDir: repoRoot };
    });
  },
};

async function bundle() {
  const outfile = path.join(workDir, `${PRIMARY}.cjs`);
  await build({
    stdin: { contents: entrySource, resolveDir: repoRoot, sourcefile: 'sea-entry.js', loader: 'js' },
    outfile,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    bundle: true,
    minifySyntax: true,
    // ASCII only (esbuild escapes the rest): scripts/sea-main.cjs decodes the bundle as latin1.
    charset: 'ascii',
    nodePaths: [path.join(repoRoot, 'node_modules')],
    plugins: [nativeAddonsFromAssets],
    // A CommonJS bundle has no import.meta; modules that find files next to themselves look
    // beside the executable instead (and at the SEA's assets first).
    define: { 'import.meta.url': '__braidExecutableUrl' },
    // The bundle is one function expression that scripts/sea-main.cjs compiles and calls with the
    // CommonJS arguments; wrapping it here spares copying 1.8 MB of source at every start.
    banner: {
      js: `(function (${BUNDLE_PARAMS}) {\nvar __braidExecutableUrl = require("node:url").pathToFileURL(process.execPath).href;`,
    },
    footer: { js: '})' },
    logLevel: 'warning',
  }).catch(() => fail('esbuild failed; see the errors above'));
  if (readFileSync(outfile).some((byte) => byte > 0x7f))
    fail(`${outfile} is not ASCII; sea-main.cjs decodes it as latin1`);
  return outfile;
}

/**
 * The build id names the extracted assets and the code caches (scripts/sea-main.cjs), so it covers
 * the bundle too: V8 checks a code cache against the source's length only, so a cache of another
 * build must never be offered.
 */
async function writeManifest(bundleFile) {
  const hash = createHash('sha256');
  for (const [name, file] of Object.entries(assetFiles)) {
    if (!existsSync(file)) fail(`${file} is missing (run npm run build first)`);
    hash.update(name).update(readFileSync(file));
  }
  hash.update(BUNDLE_ASSET).update(readFileSync(bundleFile)).update(readFileSync(seaMain));
  const manifest = path.join(workDir, 'manifest.json');
  await writeFile(
    manifest,
    JSON.stringify({ buildId: hash.digest('hex').slice(0, 16), files: Object.keys(assetFiles) }),
  );
  return manifest;
}

async function makeBlob(bundleFile, manifest) {
  const blob = path.join(workDir, `${PRIMARY}.blob`);
  const config = path.join(workDir, 'sea-config.json');
  await writeFile(
    config,
    JSON.stringify({
      main: seaMain,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      assets: { ...assetFiles, [BUNDLE_ASSET]: bundleFile, 'manifest.json': manifest },
    }),
  );
  const run = spawnSync(nodeBinary, ['--experimental-sea-config', config], { cwd: workDir, stdio: 'inherit' });
  if (run.status !== 0) fail(`node --experimental-sea-config exited with ${run.status ?? run.signal}`);
  return blob;
}

/** Injects into a copy, then renames: a binary being run is never rewritten in place. */
async function inject(blob) {
  const postjectCli = path.join(path.dirname(requireFromRepo.resolve('postject')), 'cli.js');
  const target = path.join(outDir, PRIMARY);
  const staging = `${target}.tmp-${process.pid}`;
  await copyFile(nodeBinary, staging);
  await chmod(staging, 0o755);
  // postject's ELF library warns about every note section it cannot name; only a failure matters.
  const run = spawnSync(nodeBinary, [postjectCli, staging, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    await rm(staging, { force: true });
    fail(`postject exited with ${run.status ?? run.signal}:\n${run.stdout}${run.stderr}`);
  }
  await rename(staging, target);
  for (const name of COMMANDS.filter((c) => c !== PRIMARY)) {
    const alias = path.join(outDir, name);
    await rm(alias, { force: true });
    await link(target, alias);
  }
  return target;
}

function measure(sea) {
  const pairs = [
    `node -e 0=${nodeBinary}`,
    `dist/bin/braid VERSION=${path.join(repoRoot, 'dist', 'bin', 'braid')}`,
    `dist/sea/braid VERSION=${sea}`,
  ];
  const run = spawnSync('python3', [path.join(repoRoot, 'scripts', 'time-start.py'), ...pairs], { stdio: 'inherit' });
  if (run.status !== 0) fail('timing failed');
}

if (!existsSync(nodeBinary)) fail(`${nodeBinary} is missing: run scripts/setup.sh (npm ci installs Node 24)`);
if (!existsSync(koffiAddon)) fail(`koffi has no prebuilt addon for ${triplet} (${koffiAddon})`);
for (const file of Object.values(assetFiles))
  if (!existsSync(file)) fail(`${file} is missing: run npm run build first`);
await mkdir(workDir, { recursive: true });
const bundleFile = await bundle();
const manifest = await writeManifest(bundleFile);
const blob = await makeBlob(bundleFile, manifest);
const sea = await inject(blob);
console.log(`build-sea: ${path.relative(repoRoot, sea)} (+ ${COMMANDS.filter((c) => c !== PRIMARY).join(', ')})`);
await mkdir(hostDir, { recursive: true });
await buildFrontDoor(path.join(hostDir, FRONT_DOOR)).catch((e) => fail(`the front door did not build: ${e.message}`));
for (const name of [NODE_IMPL, 'braid-veth']) await linkInto(sea, path.join(hostDir, name));
// Beside the single executable too: braid-agent looks for it beside itself.
for (const dir of [hostDir, outDir])
  await buildLauncher(path.join(dir, LAUNCHER)).catch((e) => fail(`${LAUNCHER} did not build: ${e.message}`));
console.log(
  `build-sea: ${path.relative(repoRoot, hostDir) || hostDir}/{${FRONT_DOOR},${NODE_IMPL},braid-veth,${LAUNCHER}}`,
);
if (options.measure) measure(sea);
