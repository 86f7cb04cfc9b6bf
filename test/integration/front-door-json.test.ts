import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSocketOf } from '../../src/agent/protocol.ts';
import { repoRoot } from '../helpers/braid-binary.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

/**
 * The front door's JSON reading (cmd/braid-front/json.c, conf.c) against the Node side it must
 * agree with: for many generated confs, valid and broken, the socket the C code picks is the one
 * src/agent/protocol.ts agentSocketOf() picks, byte for byte. The C files are compiled with a
 * small driver; each doc goes through one process.
 */
let driver = '';

beforeAll(() => {
  const dir = makeTempDir('braid-t-json');
  const main = join(dir, 'driver.c');
  writeFileSync(
    main,
    [
      '#include "front.h"',
      '#include <stdio.h>',
      '#include <unistd.h>',
      'int main(void) {',
      '  struct buf in = {0}; char chunk[65536]; ssize_t r;',
      '  while ((r = read(0, chunk, sizeof chunk)) > 0) buf_put(&in, chunk, (size_t)r);',
      '  buf_put(&in, "", 0);',
      '  char *s = agent_socket_of(in.data, in.len);',
      '  fputs(s, stdout);',
      '  return 0;',
      '}',
    ].join('\n'),
  );
  const src = join(repoRoot, 'cmd', 'braid-front');
  driver = join(dir, 'driver');
  execFileSync('clang', [
    '-O1',
    '-std=c11',
    '-Wall',
    '-Werror',
    `-I${src}`,
    '-o',
    driver,
    main,
    join(src, 'json.c'),
    join(src, 'conf.c'),
  ]);
});
afterAll(() => cleanupTemps());

/** The socket as bytes (hex): what reaches connect(); a lone surrogate is U+FFFD's bytes on both sides. */
const cSocketOf = (doc: string): string => spawnSync(driver, { input: doc }).stdout.toString('hex');
const nodeSocketOf = (doc: string): string => Buffer.from(agentSocketOf(doc), 'utf8').toString('hex');

/** A deterministic generator, so that a failure names a reproducible doc. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) % 1_000_000) / 1_000_000;
}

const pieces = [
  '/run/a.sock',
  '/tmp/x y/\u00e9\u2713.sock',
  'rel.sock',
  '',
  '\ud83d\ude00/s',
  'quote"back\\slash',
  'tab\tnl\n',
  '\u0001',
];

function scalar(r: () => number): unknown {
  const k = Math.floor(r() * 7);
  return [null, true, false, -0.5e3, 12, pieces[Math.floor(r() * pieces.length)], 0][k];
}

function plugin(r: () => number): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (r() < 0.6) p.type = r() < 0.5 ? 'braid' : ['bridge', 'BRAID', 3][Math.floor(r() * 3)];
  if (r() < 0.6) p.agentSocket = r() < 0.8 ? pieces[Math.floor(r() * pieces.length)] : scalar(r);
  if (r() < 0.3) p.nested = { agentSocket: '/nested', list: [scalar(r), [scalar(r)], {}] };
  return p;
}

function conf(r: () => number): string {
  const c: Record<string, unknown> = { cniVersion: '1.0.0', name: 'n' };
  if (r() < 0.4) c.agentSocket = r() < 0.8 ? pieces[Math.floor(r() * pieces.length)] : scalar(r);
  if (r() < 0.6)
    c.plugins =
      r() < 0.9 ? Array.from({ length: Math.floor(r() * 4) }, () => (r() < 0.85 ? plugin(r) : scalar(r))) : plugin(r);
  let text = JSON.stringify(c, null, r() < 0.3 ? 2 : undefined);
  // JSON.stringify writes "/" and non-ASCII as they are; escape some, as other writers do.
  if (r() < 0.3) text = text.replaceAll('/', '\\/');
  if (r() < 0.3)
    text = text.replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text;
}

/** Breaks a doc the ways input breaks: cut short, a stray byte, a duplicate key, trailing text. */
function mangle(doc: string, r: () => number): string {
  const at = Math.floor(r() * doc.length);
  switch (Math.floor(r() * 5)) {
    case 0:
      return doc.slice(0, at);
    case 1:
      return doc.slice(0, at) + [',', '}', '"', '\\', 'x', '\u0000', ' '][Math.floor(r() * 7)] + doc.slice(at);
    case 2:
      return doc.replace('{', `{"agentSocket":"/dup",`);
    case 3:
      return `${doc} ${r() < 0.5 ? '' : '{}'}`;
    default:
      return doc.replace(/:(\d+)/, ':0$1');
  }
}

describe('the front door reads confs as agentSocketOf() does', () => {
  it('agrees on generated confs, valid and broken', () => {
    const r = rng(20261206);
    const docs: string[] = [];
    for (let i = 0; i < 150; i++) {
      const doc = conf(r);
      docs.push(doc, mangle(doc, r));
    }
    docs.push(
      '',
      ' ',
      'null',
      '[]',
      '"x"',
      '{}',
      '{"agentSocket":"\\ud800"}',
      '{"agentSocket":"\\u00"}',
      '{"agentSocket":1e}',
      '{"a":-}',
      '{"plugins":[1,2,{"agentSocket":"/p"}]}',
    );
    for (const doc of docs) expect(cSocketOf(doc), JSON.stringify(doc)).toBe(nodeSocketOf(doc));
  });
});
