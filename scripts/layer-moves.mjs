#!/usr/bin/env node
// Moves source files between folders and keeps every relative import pointing at them right; the moves
// are recorded in scripts/layer-moves.txt (`old/path.ts -> new/path.ts`).
//
//   node scripts/layer-moves.mjs move OLD NEW [OLD NEW …]   git mv, rewrite imports everywhere, record
//   node scripts/layer-moves.mjs fix [FILE …]               rewrite imports that name a moved file's old
//                                                           path (default: every file under src cmd test scripts)
//
// `fix` is for files written against the old layout (a branch merged after the moves): an import that
// names an old path gets the new one, and a moved file's own imports that no longer resolve from its
// new folder are read from its old folder.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const LIST = 'scripts/layer-moves.txt';
const DIRS = ['src', 'cmd', 'test', 'scripts'];
const SPEC = /(['"`])(\.\.?\/[^'"`\s]*?\.(?:ts|js|mjs))\1/g;

function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'fixtures' ? [] : walk(p);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

function readList() {
  if (!fs.existsSync(LIST)) return new Map();
  const m = new Map();
  for (const l of fs.readFileSync(LIST, 'utf8').split('\n')) {
    const hit = /^(\S+) -> (\S+)$/.exec(l.trim());
    if (hit)
      m.set(
        hit[1].endsWith('/') ? hit[1] : path.normalize(hit[1]),
        hit[2].endsWith('/') ? hit[2] : path.normalize(hit[2]),
      );
  }
  return m;
}

/**
 * Where a moved path went: its own line, else a folder line (`old/dir/ -> new/dir/`, for files
 * added to a moved folder after the move); undefined when it did not move.
 */
function movedTo(moves, p) {
  if (moves.has(p)) return moves.get(p);
  for (const [from, to] of moves) {
    if (from.endsWith('/') && p.startsWith(from)) return to + p.slice(from.length);
  }
  return undefined;
}

/** Follows a chain of moves (a file moved twice) to where it lives now. */
const finalPath = (moves, p) => {
  for (let i = 0, next = movedTo(moves, p); i < 10 && next !== undefined; i++, next = movedTo(moves, p)) p = next;
  return p;
};

function relativeSpec(fromFile, target) {
  let r = path.relative(path.dirname(fromFile), target);
  if (!r.startsWith('.')) r = `./${r}`;
  return r;
}

/**
 * Rewrites the relative specifiers of one file. `oldLocation` is where the file lived when its
 * imports were written; `moves` maps old paths to new ones.
 */
function rewrite(file, oldLocation, moves, preferNew) {
  const text = fs.readFileSync(file, 'utf8');
  const next = text.replace(SPEC, (all, q, spec) => {
    const fromNew = path.normalize(path.join(path.dirname(file), spec));
    const fromOld = path.normalize(path.join(path.dirname(oldLocation), spec));
    let target;
    if (fs.existsSync(fromNew) && (preferNew || oldLocation === file)) return all;
    if (movedTo(moves, fromNew) !== undefined) target = finalPath(moves, fromNew);
    else if (movedTo(moves, fromOld) !== undefined) target = finalPath(moves, fromOld);
    else if (fs.existsSync(fromOld)) target = fromOld;
    else return all;
    return `${q}${relativeSpec(file, target)}${q}`;
  });
  if (next !== text) fs.writeFileSync(file, next);
  return next !== text;
}

function move(pairs) {
  const batch = new Map();
  for (let i = 0; i < pairs.length; i += 2) batch.set(path.normalize(pairs[i]), path.normalize(pairs[i + 1]));
  for (const [from, to] of batch) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    execFileSync('git', ['mv', from, to]);
  }
  const back = new Map([...batch].map(([a, b]) => [b, a]));
  for (const f of DIRS.flatMap(walk)) rewrite(f, back.get(f) ?? f, batch, false);
  const lines = [...batch].map(([a, b]) => `${a} -> ${b}`).join('\n');
  fs.appendFileSync(LIST, `${lines}\n`);
}

function fix(files) {
  const moves = readList();
  const back = new Map();
  for (const [a, b] of moves) if (!a.endsWith('/')) back.set(b, a);
  const oldLocationOf = (f) => {
    if (back.has(f)) return back.get(f);
    const folder = [...moves].find(([a, b]) => a.endsWith('/') && f.startsWith(b));
    return folder ? folder[0] + f.slice(folder[1].length) : f;
  };
  for (const f of files.length ? files : DIRS.flatMap(walk)) {
    if (rewrite(f, oldLocationOf(path.normalize(f)), moves, true)) console.log(`fixed imports: ${f}`);
  }
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'move' && rest.length > 0 && rest.length % 2 === 0) move(rest);
else if (cmd === 'fix') fix(rest);
else {
  console.error('usage: layer-moves.mjs move OLD NEW [OLD NEW …] | fix [FILE …]');
  process.exit(2);
}
