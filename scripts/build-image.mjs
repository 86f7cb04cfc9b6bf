// Builds braid's container image offline: `npm run image` (after `npm run build` and
// `npm run build:sea`, which scripts/setup.sh runs). No registry, no container engine: the layer
// tarball, config, manifest and index are written here (scripts/image/) and packed as an OCI
// archive, dist/braid-<version>.oci.tar, that `podman load -i`, `ctr images import` and
// `kind load image-archive` accept.
//
// The image is FROM scratch: the single executable (braid and braid-agent: one file under two
// names) and braid-chroot in /usr/local/bin, the host layout of dist/host (the native front door
// `braid`, the single executable as `braid-node` and `braid-veth`) in /usr/local/lib/braid/host for
// `braid install` to copy, and the shared libraries they load, found with ldd: the executable's
// own, libbpf.so.1 and its dependencies (koffi dlopen()s it, so ldd of the executable cannot see
// it) and koffi's addon's. Libraries keep their host paths, symlinks included (/lib -> usr/lib on
// Debian 12), so the dynamic loader finds them where it looks by default. No shell, no host tools:
// braid-agent runs delegates chrooted into the host root (--host-root), with the host's binaries.
//
// Options: --name <ref> (default braid:<package.json version>), --out <file>; for tests that build
// from a private build: --sea <file> (default dist/sea/braid), --host-dir <dir> (default dist/host),
// --chroot-helper <file> (default dist/bin/braid-chroot), --fast (gzip level 1 instead of 9).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ociArchive } from './image/oci.mjs';
import { TarWriter } from './image/tar.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
const { values: options } = parseArgs({
  options: {
    name: { type: 'string' },
    out: { type: 'string' },
    sea: { type: 'string' },
    'chroot-helper': { type: 'string' },
    'host-dir': { type: 'string' },
    fast: { type: 'boolean', default: false },
  },
});
const name = options.name ?? `braid:${version}`;
const out = path.resolve(options.out ?? path.join(repoRoot, 'dist', `braid-${version}.oci.tar`));

const BIN = '/usr/local/bin';
const SEA = path.resolve(options.sea ?? path.join(repoRoot, 'dist', 'sea', 'braid'));
/**
 * What runs in the image's containers: braid-agent (agent), braid install (init), braid-chroot, and
 * braid-launch beside braid-agent (it starts delegates through it when it runs without --host-root).
 */
const IMAGE_COMMANDS = [
  ['braid', SEA],
  ['braid-agent', SEA],
  ['braid-chroot', path.resolve(options['chroot-helper'] ?? path.join(repoRoot, 'dist', 'bin', 'braid-chroot'))],
  ['braid-launch', path.join(path.dirname(SEA), 'braid-launch')],
];
/**
 * The host files: what `braid install` copies into the host's CNI bin dir (its --bin-source in
 * examples/kubernetes/04-daemonset.yaml; its default --binaries are these names): dist/host as
 * `npm run build:sea` lays it out, the static front door and the single executable behind it.
 */
export const HOST_DIR = '/usr/local/lib/braid/host';
const HOST_SOURCE = path.resolve(options['host-dir'] ?? path.join(repoRoot, 'dist', 'host'));
const HOST_FILES = ['braid', 'braid-node', 'braid-veth', 'braid-launch'].map((name) => [
  name,
  path.join(HOST_SOURCE, name),
]);

function fail(message) {
  console.error(`image: ${message}`);
  process.exit(1);
}

/** The libraries ldd lists for a file, as absolute paths. */
function lddLibraries(file) {
  const text = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...text.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]);
}

/** libbpf.so.1 as the loader would find it for koffi.load('libbpf.so.1'). */
function findLibbpf() {
  const cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const line = cache.split('\n').find((l) => l.trim().startsWith('libbpf.so.1 ') && l.includes('x86-64'));
  const found = line?.split('=>')[1]?.trim();
  if (!found || !existsSync(found))
    fail('libbpf.so.1 not found (apt-get install libbpf1; scripts/setup.sh installs libbpf-dev)');
  return found;
}

/** Adds a host path with every directory and symlink on the way, as the host has them. */
class LayerTree {
  entries = new Map();

  addHostPath(hostPath) {
    const parts = hostPath.split('/').filter(Boolean);
    let current = '';
    for (let i = 0; i < parts.length; i++) {
      current += `/${parts[i]}`;
      const st = lstatSync(current);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(current);
        this.entries.set(current, { type: 'symlink', target });
        const resolved = path.resolve(path.dirname(current), target);
        return this.addHostPath(path.join(resolved, ...parts.slice(i + 1)));
      }
      if (st.isDirectory()) {
        if (!this.entries.has(current)) this.entries.set(current, { type: 'dir', mode: 0o755 });
      } else {
        this.entries.set(current, { type: 'file', source: current, mode: st.mode & 0o777 });
      }
    }
  }

  addDir(imagePath, mode = 0o755) {
    const parts = imagePath.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (!this.entries.has(p)) this.entries.set(p, { type: 'dir', mode: i === parts.length ? mode : 0o755 });
    }
  }

  addFile(imagePath, source, mode = 0o755) {
    this.addDir(path.dirname(imagePath));
    this.entries.set(imagePath, { type: 'file', source, mode });
  }

  /** The layer: parents before children; a source file seen before (same inode) becomes a hard link. */
  toTar(mtime) {
    const tar = new TarWriter(mtime);
    const written = new Map();
    for (const p of [...this.entries.keys()].sort()) {
      const e = this.entries.get(p);
      const name = p.slice(1);
      if (e.type === 'dir') tar.dir(name, e.mode);
      else if (e.type === 'symlink') tar.symlink(name, e.target);
      else {
        const st = statSync(realpathSync(e.source));
        const key = `${st.dev}:${st.ino}`;
        if (written.has(key)) tar.hardlink(name, written.get(key), e.mode);
        else {
          tar.file(name, readFileSync(e.source), e.mode);
          written.set(key, name);
        }
      }
    }
    return tar.toBuffer();
  }
}

function sourceDate() {
  if (process.env.SOURCE_DATE_EPOCH) return new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000);
  try {
    return new Date(
      Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: repoRoot, encoding: 'utf8' }).trim()) * 1000,
    );
  } catch {
    return new Date();
  }
}

for (const [, file] of [...IMAGE_COMMANDS, ...HOST_FILES]) {
  if (!existsSync(file))
    fail(`${path.relative(repoRoot, file)} is missing: run npm run build && npm run build:sea first`);
}
/** The newest modification time of the files under `dir` (sources the single executable is built from). */
function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

if (
  !options.sea &&
  statSync(SEA).mtimeMs < Math.max(newestUnder(path.join(repoRoot, 'src')), newestUnder(path.join(repoRoot, 'cmd')))
) {
  console.warn(
    'image: warning: dist/sea/braid is older than the sources in src/ or cmd/; run npm run build:sea for an image of this checkout',
  );
}
const tree = new LayerTree();
for (const [cmd, file] of IMAGE_COMMANDS) tree.addFile(`${BIN}/${cmd}`, file);
for (const [cmd, file] of HOST_FILES) tree.addFile(`${HOST_DIR}/${cmd}`, file);
const requireFromRepo = createRequire(path.join(repoRoot, 'package.json'));
const koffiAddon = path.join(
  path.dirname(requireFromRepo.resolve('koffi')),
  'build',
  'koffi',
  `${process.platform}_${process.arch}`,
  'koffi.node',
);
const libbpf = findLibbpf();
const libraries = new Set([...lddLibraries(SEA), ...lddLibraries(koffiAddon), libbpf, ...lddLibraries(libbpf)]);
// koffi.load('libc.so.6') is in the list already (every ELF above needs it).
for (const lib of [...libraries].sort()) tree.addHostPath(lib);
tree.addDir('/tmp', 0o1777);
tree.addDir('/run');
tree.addDir('/host');

const created = sourceDate();
const mtime = Math.floor(created.getTime() / 1000);
const layerTar = tree.toTar(mtime);
const { archive, manifestDigest, layerSize } = ociArchive({
  layerTar,
  name,
  created,
  mtime,
  gzipLevel: options.fast ? 1 : 9,
  config: {
    Env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
    Cmd: [`${BIN}/braid-agent`],
    Labels: {
      'org.opencontainers.image.title': 'braid',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.description': 'braid-agent, braid install and the host files braid install copies',
    },
  },
});
writeFileSync(out, archive);
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
console.log(`image: ${name} (${manifestDigest}) -> ${path.relative(process.cwd(), out)}`);
console.log(
  `image: ${mib(layerTar.length)} unpacked, ${mib(layerSize)} compressed layer, archive ${mib(statSync(out).size)}; ${libraries.size} shared libraries`,
);
