import fs from 'node:fs';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { fnv1a64 } from './content-hash.ts';

interface Entry {
  hash: string;
  docs: unknown[];
}

/**
 * Parsed YAML manifests, kept as JSON beside braid's cache and keyed by file path and content
 * fingerprint. Loading the YAML parser costs a plugin process tens of milliseconds; the pod store
 * and NAD directory change rarely, so most ADDs read their manifests from here instead.
 */
export class ParsedYamlCache {
  private entries: Record<string, Entry> | undefined;

  constructor(private readonly file: string) {}

  private load(): Record<string, Entry> {
    if (!this.entries) {
      try {
        this.entries = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, Entry>;
      } catch {
        this.entries = {};
      }
    }
    return this.entries;
  }

  get(file: string, text: string): unknown[] | undefined {
    const entry = this.load()[file];
    return entry && entry.hash === fnv1a64(text) ? entry.docs : undefined;
  }

  /** Records a freshly parsed file; a failed write only costs the next process a parse. */
  set(file: string, text: string, docs: unknown[]): void {
    const entries = this.load();
    entries[file] = { hash: fnv1a64(text), docs };
    try {
      writeFileAtomic(this.file, JSON.stringify(entries), { durable: false });
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
  cache?: ParsedYamlCache,
): Promise<unknown[]> {
  const cached = cache?.get(file, text);
  if (cached) return cached;
  const docs = await parse(text);
  cache?.set(file, text, docs);
  return docs;
}
