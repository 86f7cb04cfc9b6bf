import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ParsedYamlCache, yamlDocuments } from '../../../src/k8s/parsed-yaml-cache.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-yamlcache-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('parsed YAML cache', () => {
  it('parses once, then answers from the cache in a new process-like instance', async () => {
    const file = path.join(dir, 'cache', 'parsed.json');
    let parses = 0;
    const parse = async (t: string) => {
      parses++;
      return [{ text: t }];
    };
    expect(await yamlDocuments('/m.yaml', 'a: 1', parse, new ParsedYamlCache(file))).toEqual([{ text: 'a: 1' }]);
    expect(await yamlDocuments('/m.yaml', 'a: 1', parse, new ParsedYamlCache(file))).toEqual([{ text: 'a: 1' }]);
    expect(parses).toBe(1);
  });

  it('parses again when the content changed', async () => {
    const cache = new ParsedYamlCache(path.join(dir, 'parsed.json'));
    let parses = 0;
    const parse = async (t: string) => [{ n: ++parses, t }];
    await yamlDocuments('/m.yaml', 'a: 1', parse, cache);
    expect(await yamlDocuments('/m.yaml', 'a: 2', parse, cache)).toEqual([{ n: 2, t: 'a: 2' }]);
  });

  it('treats an unreadable cache file as empty', async () => {
    const file = path.join(dir, 'parsed.json');
    fs.writeFileSync(file, '{not json');
    const docs = await yamlDocuments('/m.yaml', 'x', async () => [1], new ParsedYamlCache(file));
    expect(docs).toEqual([1]);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))['/m.yaml'].docs).toEqual([1]);
  });
});
