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
    const file = path.join(dir, 'cache', 'manifests');
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
    const cache = new ParsedYamlCache(dir);
    let parses = 0;
    const parse = async (t: string) => [{ n: ++parses, t }];
    await yamlDocuments('/m.yaml', 'a: 1', parse, cache);
    expect(await yamlDocuments('/m.yaml', 'a: 2', parse, cache)).toEqual([{ n: 2, t: 'a: 2' }]);
  });

  it('treats an unreadable entry as missing and replaces it', async () => {
    await yamlDocuments('/m.yaml', 'x', async () => [0], new ParsedYamlCache(dir));
    const [entry] = fs.readdirSync(dir);
    fs.writeFileSync(path.join(dir, entry!), '{not json');
    const docs = await yamlDocuments('/m.yaml', 'x', async () => [1], new ParsedYamlCache(dir));
    expect(docs).toEqual([1]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, entry!), 'utf8')).docs).toEqual([1]);
  });

  it('keeps one small entry per manifest: adding manifests does not grow what one is read from', async () => {
    const cache = new ParsedYamlCache(dir);
    for (let i = 0; i < 20; i++) await yamlDocuments(`/pods/p${i}.yaml`, `n: ${i}`, async (t) => [t], cache);
    const sizes = fs.readdirSync(dir).map((f) => fs.statSync(path.join(dir, f)).size);
    expect(sizes).toHaveLength(20);
    expect(Math.max(...sizes)).toBeLessThan(100);
  });
});
