import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { fnv1a64 } from './content-hash.ts';

interface Entry {
  file: string;
  hash: string;
  docs: unknown[];
}

/** Parsed manifests by path, valid while the file's content is the same (see yamlDocuments). */
export interface YamlDocCache {
  get(file: string, text: string): unknown[] | undefined;
  set(file: string, text: string, docs: unknown[]): void;
}

/**
 * Parsed manifests in memory, for a long-lived process (braid-agent without the API server): valid
 * while the file's text is the same (compared whole, which is cheaper than hashing it), without
 * reading and parsing the on-disk cache's JSON file at every call. Each caller gets its own copy,
 * so no call can change what the next one reads.
 */
export class MemoryYamlCache implements YamlDocCache {
  private readonly entries = new Map<string, { text: string; docs: unknown[] }>();

  constructor(private readonly maxEntries = 10_000) {}

  get(file: string, text: string): unknown[] | undefined {
    const hit = this.entries.get(file);
    return hit && hit.text === text ? structuredClone(hit.docs) : undefined;
  }

  set(file: string, text: string, docs: unknown[]): void {
    this.entries.delete(file);
    this.entries.set(file, { text, docs: structuredClone(docs) });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * Parsed YAML manifests, kept as JSON beside braid's cache, one small file per manifest
 * (<dir>/<hash of its path>.json) keyed by content fingerprint. Loading the YAML parser costs a
 * plugin process tens of milliseconds; the pod store and NAD directory change rarely, so most
 * ADDs read their manifests from here instead. One file per manifest keeps an ADD's cost
 * independent of how many manifests the node has (one shared file grew with every pod).
 */
export class ParsedYamlCache implements YamlDocCache {
  constructor(private readonly dir: string) {}

  private entryFile(file: string): string {
    return path.join(this.dir, `${fnv1a64(file)}.json`);
  }

  get(file: string, text: string): unknown[] | undefined {
    try {
      const entry = JSON.parse(fs.readFileSync(this.entryFile(file), 'utf8')) as Entry;
      return entry.file === file && entry.hash === fnv1a64(text) ? entry.docs : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records a freshly parsed file; a failed write only costs the next process a parse. */
  set(file: string, text: string, docs: unknown[]): void {
    try {
      const entry: Entry = { file, hash: fnv1a64(text), docs };
      writeFileAtomic(this.entryFile(file), JSON.stringify(entry), { durable: false });
    } catch {
      // Not cached: correct, only slower.
    }
  }
}

/** Every YAML document of a manifest as plain values, from the cache when the file is unchanged. */
export async function yamlDocuments(
  file: string,
  text: string,
  parse: (text: string) => Promise<unknown[]>,
  cache?: YamlDocCache,
): Promise<unknown[]> {
  const cached = cache?.get(file, text);
  if (cached) return cached;
  const docs = await parse(text);
  cache?.set(file, text, docs);
  return docs;
}
