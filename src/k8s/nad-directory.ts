import { loadYaml } from './yaml-loader.ts';
import { type YamlDocCache, yamlDocuments } from './parsed-yaml-cache.ts';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { schemaErrorMessage } from '../base/schema-errors.ts';
import { validateNetworkAttachmentDefinition } from '../generated/validators.js';
import type { NadSource } from './sources.ts';
import type { NetworkAttachmentDefinition } from './types.ts';

const EXTENSIONS = ['.yaml', '.yml', '.json'];
const NAD_KIND = 'NetworkAttachmentDefinition';
const DEFAULT_NAMESPACE = 'default';

interface LoadedNad {
  nad: NetworkAttachmentDefinition;
  /** "file" or "file (document n)". */
  origin: string;
}

interface DirectoryContents {
  nads: Map<string, LoadedNad>;
  /** `ns/name` -> every origin, for NADs defined more than once. */
  duplicates: Map<string, string[]>;
  /** Files or documents that could not be used, with the reason. */
  problems: string[];
}

/**
 * Manifest files under dir, sorted. Names starting with "." are skipped: editors' temp files and
 * the `..data`/`..<timestamp>` twins a ConfigMap volume holds next to its symlinks.
 */
function manifestFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CniError(CniCode.IoFailure, `cannot list NAD directory ${dir}: ${(e as Error).message}`);
  }
  const files: string[] = [];
  // Byte order, not localeCompare: the ICU collator costs a plugin process ~15 ms to set up.
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    const isDir =
      entry.isDirectory() || (entry.isSymbolicLink() && statSync(path, { throwIfNoEntry: false })?.isDirectory());
    if (isDir) files.push(...manifestFiles(path));
    else if (EXTENSIONS.some((ext) => entry.name.endsWith(ext))) files.push(path);
  }
  return files;
}

async function parseYamlDocuments(text: string): Promise<unknown[]> {
  const { parseAllDocuments } = await loadYaml();
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [];
  const broken = list.find((d) => d.errors.length > 0);
  if (broken) throw new Error(broken.errors[0]!.message);
  return list.map((d) => d.toJS());
}

/** A manifest's documents as plain values; `kind: List` is expanded to its items. */
async function documentsOf(
  file: string,
  text: string,
  cache?: YamlDocCache,
): Promise<{ docs: unknown[]; problems: string[] }> {
  let docs: unknown[];
  if (file.endsWith('.json')) {
    try {
      docs = [JSON.parse(text)];
    } catch (e) {
      return { docs: [], problems: [`${file}: is not valid JSON: ${(e as Error).message}`] };
    }
  } else {
    try {
      docs = await yamlDocuments(file, text, parseYamlDocuments, cache);
    } catch (e) {
      return { docs: [], problems: [`${file}: is not valid YAML: ${(e as Error).message}`] };
    }
  }
  const expanded = docs.flatMap((d) => {
    const doc = d as { kind?: unknown; items?: unknown } | null;
    return doc?.kind === 'List' && Array.isArray(doc.items) ? doc.items : [d];
  });
  return { docs: expanded, problems: [] };
}

/**
 * NetworkAttachmentDefinitions from the manifests under a directory: every *.yaml, *.yml and
 * *.json file (multi-document YAML, `kind: List` too), as you would `kubectl apply -f` them.
 * Documents of other kinds are ignored; a NAD without namespace is in "default". The directory
 * is read once, on first use. A broken file does not hide the NADs of the other files, but a
 * lookup that finds nothing names the broken files, and a NAD defined twice is an error.
 */
export class NadDirectory implements NadSource {
  readonly kind: string;
  private contents: Promise<DirectoryContents> | undefined;

  constructor(
    readonly dir: string,
    private readonly yamlCache?: YamlDocCache,
  ) {
    this.kind = `NAD directory ${dir}`;
  }

  private load(): Promise<DirectoryContents> {
    this.contents ??= this.read();
    return this.contents;
  }

  private async read(): Promise<DirectoryContents> {
    const out: DirectoryContents = { nads: new Map(), duplicates: new Map(), problems: [] };
    for (const file of manifestFiles(this.dir)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        out.problems.push(`${file}: ${(e as Error).message}`);
        continue;
      }
      const { docs, problems } = await documentsOf(file, text, this.yamlCache);
      out.problems.push(...problems);
      docs.forEach((doc, i) => this.add(out, doc, docs.length > 1 ? `${file} (document ${i + 1})` : file));
    }
    return out;
  }

  private add(out: DirectoryContents, doc: unknown, origin: string): void {
    if ((doc as { kind?: unknown } | null)?.kind !== NAD_KIND) return;
    if (!validateNetworkAttachmentDefinition(doc)) {
      out.problems.push(schemaErrorMessage(origin, validateNetworkAttachmentDefinition.errors, doc));
      return;
    }
    const nad = doc as NetworkAttachmentDefinition;
    nad.metadata.namespace ??= DEFAULT_NAMESPACE;
    const key = `${nad.metadata.namespace}/${nad.metadata.name}`;
    const earlier = out.nads.get(key);
    if (earlier) {
      out.duplicates.set(key, [...(out.duplicates.get(key) ?? [earlier.origin]), origin]);
      return;
    }
    out.nads.set(key, { nad, origin });
  }

  async getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined> {
    const contents = await this.load();
    const key = `${namespace}/${name}`;
    const origins = contents.duplicates.get(key);
    if (origins) {
      throw new CniError(
        CniCode.InvalidConfig,
        `NAD ${key} is defined more than once in ${this.dir}: ${origins.join(' and ')}`,
      );
    }
    const found = contents.nads.get(key);
    if (found) return structuredClone(found.nad);
    if (contents.problems.length > 0) {
      throw new CniError(
        CniCode.InvalidConfig,
        `NAD ${key} not found in ${this.dir}, which has files braid cannot use: ${contents.problems.join('; ')}`,
      );
    }
    return undefined;
  }

  /** Every NAD and every problem, for `braid validate` and status output. */
  async list(): Promise<{ nads: { nad: NetworkAttachmentDefinition; origin: string }[]; problems: string[] }> {
    const contents = await this.load();
    const problems = [...contents.problems];
    for (const [key, origins] of contents.duplicates)
      problems.push(`NAD ${key} is defined more than once: ${origins.join(' and ')}`);
    return {
      nads: [...contents.nads.values()].map((l) => ({ nad: structuredClone(l.nad), origin: l.origin })),
      problems,
    };
  }
}
