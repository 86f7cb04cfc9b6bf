// The single executable's main script (scripts/build-sea.mjs makes it the SEA's `main`; braid's
// bundle travels as the asset braid.cjs). It compiles the bundle with a V8 code cache that holds
// the functions a plugin call of that verb ran, so that the next call of the verb runs them
// without compiling them again.
//
// Why not Node's own `useCodeCache`: that cache is made right after compiling the bundle, before
// anything runs, so it holds only the top level; every function a call runs is still compiled
// lazily, at every start (a thin ADD runs a few hundred KB of braid's code). Nor a V8 startup
// snapshot (`useSnapshot`): it replaces Node's own snapshot with a bigger one, and deserialising
// that cost a VERSION call more than it saved (docs/development.md, "Start-up of the single
// executable").
//
// The cache is written by the first call of each verb after it has answered (at process exit),
// under the root-owned directory the bundled assets go to (/run/braid or $BRAID_ASSET_DIR, checked
// like them: the cache is code), as code-cache-<build id>/<command>-<verb>.bin. V8 checks that a
// cache fits its version, its flags and the source's length only; the build id in the path, a hash
// of the bundle, covers the content. A rejected or unreadable cache is ignored and rewritten.
// Only plugin calls (CNI_COMMAND set) use one: the CLI and braid-agent start rarely.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { getAsset, getRawAsset } = require('node:sea');

const ASSET_DIR_ENV = 'BRAID_ASSET_DIR';
const DEFAULT_ROOT = '/run/braid';

/** A directory that only this user can change, or undefined. */
function privateDir(dir) {
  try {
    const st = fs.lstatSync(dir);
    const uid = process.getuid ? process.getuid() : 0;
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Where this build's cache for this command and verb lives; undefined when no cache is used. */
function cacheFileOf(buildId) {
  const verb = process.env.CNI_COMMAND;
  if (!verb || !/^[A-Z]{1,16}$/.test(verb)) return undefined;
  const root = process.env[ASSET_DIR_ENV] || DEFAULT_ROOT;
  const command = path.basename(process.execPath).replace(/[^a-z-]/g, '');
  return path.join(root, `code-cache-${buildId}`, `${command}-${verb}.bin`);
}

function readCache(file) {
  if (!file || !privateDir(path.dirname(path.dirname(file))) || !privateDir(path.dirname(file))) return undefined;
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Written beside its final name and renamed: a concurrent start reads all of it or nothing. */
function writeCache(script, file) {
  try {
    const dir = path.dirname(file);
    const root = path.dirname(dir);
    // Nothing is created in a root others can write to (as src/base/sea-assets.ts refuses it).
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    if (!privateDir(root)) return;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!privateDir(dir)) return;
    const staging = `${file}.tmp-${process.pid}`;
    try {
      fs.writeFileSync(staging, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(staging, file);
    } finally {
      fs.rmSync(staging, { force: true });
    }
  } catch {
    // no cache: the next call compiles as this one did
  }
}

const { buildId } = JSON.parse(getAsset('manifest.json', 'utf8'));
const cacheFile = cacheFileOf(buildId);
const cachedData = readCache(cacheFile);
// esbuild writes ASCII only (non-ASCII characters escaped), so latin1 is exact and the cheapest decode.
const source = Buffer.from(getRawAsset('braid.cjs')).latin1Slice();
// The bundle is `(function (require, module, exports, __filename, __dirname) {...})` (build-sea.mjs).
const script = new vm.Script(source, {
  filename: path.join(path.dirname(process.execPath), 'braid.cjs'),
  cachedData,
});
if (cacheFile && (!cachedData || script.cachedDataRejected)) {
  const rejected = script.cachedDataRejected === true;
  process.once('exit', () => {
    // A burst of first calls (a node's reboot, no agent yet): a call that finds a cache another
    // wrote meanwhile leaves it be; one V8 rejected is replaced.
    if (rejected || !fs.existsSync(cacheFile)) writeCache(script, cacheFile);
  });
}
script.runInThisContext()(require, module, module.exports, process.execPath, path.dirname(process.execPath));
