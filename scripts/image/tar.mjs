// A minimal POSIX ustar writer: directories, regular files, symlinks and hard links, owned by root,
// with one fixed modification time so that the same inputs give the same bytes (and digests).
// Enough for an image layer and for the OCI archive around it; no dependency needed.

const BLOCK = 512;

function octal(value, width) {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** Splits a path into ustar's name (100 bytes) and prefix (155 bytes) fields. */
function splitName(name) {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  const cut = name.lastIndexOf('/', 155);
  if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100)
    throw new Error(`tar: path too long for ustar: ${name}`);
  return { name: name.slice(cut + 1), prefix: name.slice(0, cut) };
}

function header({ path, type, mode, size = 0, linkname = '', mtime }) {
  const h = Buffer.alloc(BLOCK);
  const { name, prefix } = splitName(path);
  h.write(name, 0, 100);
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108); // uid
  h.write(octal(0, 8), 116); // gid
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148); // checksum placeholder: spaces while summing
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write('root', 265);
  h.write('root', 297);
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${octal(sum, 7)} `, 148);
  return h;
}

const padding = (size) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** Collects entries in order; `toBuffer()` gives the archive (two zero blocks at the end). */
export class TarWriter {
  #parts = [];
  #mtime;

  constructor(mtime) {
    this.#mtime = mtime;
  }

  dir(path, mode = 0o755) {
    this.#parts.push(header({ path: path.endsWith('/') ? path : `${path}/`, type: '5', mode, mtime: this.#mtime }));
  }

  file(path, data, mode = 0o644) {
    this.#parts.push(
      header({ path, type: '0', mode, size: data.length, mtime: this.#mtime }),
      data,
      padding(data.length),
    );
  }

  symlink(path, target) {
    this.#parts.push(header({ path, type: '2', mode: 0o777, linkname: target, mtime: this.#mtime }));
  }

  /** A second name of a file written earlier in the same archive (`target` as it was written). */
  hardlink(path, target, mode = 0o755) {
    this.#parts.push(header({ path, type: '1', mode, linkname: target, mtime: this.#mtime }));
  }

  toBuffer() {
    return Buffer.concat([...this.#parts, Buffer.alloc(BLOCK * 2)]);
  }
}
