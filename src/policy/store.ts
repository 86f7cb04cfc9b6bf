import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { POLICY_KIND, policyKey, type MultiNetworkPolicy, type NamespaceView } from './model.ts';
import { parseNamespace, parsePolicyObject, splitDocuments, type RawDocument } from './parse.ts';

/**
 * The local policy store, braid's embedded policy source when there is no API server:
 *   <policyDir>/<namespace>/<name>.json   one MultiNetworkPolicy each, as applied
 *   <policyDir>/_namespaces/<name>.json  Namespace objects, for namespaceSelector labels
 * ("_namespaces" cannot clash: namespace names cannot start with "_"). Applied objects are kept
 * as JSON because every ADD reads the store and a YAML parser takes seconds for a policy with
 * 10,000 peers; .yaml/.yml files placed there by hand are read too.
 */
const NAMESPACES_DIR = '_namespaces';
const EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface ApplyResult {
  policies: string[];
  namespaces: string[];
  skipped: string[];
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}

function yamlFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => EXTENSIONS.some((e) => n.endsWith(e)))
      .sort()
      .map((n) => join(dir, n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** A file, or every .yaml/.yml/.json file of a directory (not recursive), as `kubectl apply -f` reads them. */
export function manifestFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CniError(
      CniCode.IoFailure,
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return isDir ? yamlFiles(path) : [path];
}

/** JSON files with JSON.parse (fast), the rest with the YAML parser. */
function readDocuments(file: string): RawDocument[] {
  const text = readFileSync(file, 'utf8');
  if (file.endsWith('.json')) {
    try {
      const raw: unknown = JSON.parse(text);
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw))
        return [{ raw: raw as RawDocument['raw'], where: file }];
    } catch {
      // not plain JSON: let the YAML parser report it
    }
  }
  return splitDocuments(text, file);
}

export class PolicyStore {
  constructor(readonly policyDir: string) {}

  private policyFile(namespace: string, name: string): string {
    return join(this.policyDir, namespace, `${name}.json`);
  }

  /**
   * Validates every document of the files first and writes only when all are valid, so that a
   * typo in one policy never leaves half of a directory applied. `check` sees the parsed
   * policies before anything is written and may refuse them by throwing.
   */
  apply(files: string[], defaultNamespace = 'default', check?: (incoming: MultiNetworkPolicy[]) => void): ApplyResult {
    const result: ApplyResult = { policies: [], namespaces: [], skipped: [] };
    const incoming: MultiNetworkPolicy[] = [];
    const writes: { file: string; text: string }[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new CniError(CniCode.IoFailure, `cannot read ${file}: ${(e as Error).message}`);
      }
      for (const doc of splitDocuments(text, file)) {
        if (doc.raw.kind === POLICY_KIND) {
          const policy = parsePolicyObject(doc.raw, doc.where, defaultNamespace);
          const raw = { ...doc.raw, metadata: { ...(doc.raw.metadata as object), namespace: policy.namespace } };
          writes.push({
            file: this.policyFile(policy.namespace, policy.name),
            text: `${JSON.stringify(raw, null, 1)}\n`,
          });
          result.policies.push(policyKey(policy));
          incoming.push(policy);
        } else if (doc.raw.kind === 'Namespace') {
          const ns = parseNamespace(doc);
          writes.push({
            file: join(this.policyDir, NAMESPACES_DIR, `${ns.name}.json`),
            text: `${JSON.stringify(doc.raw, null, 1)}\n`,
          });
          result.namespaces.push(ns.name);
        } else {
          result.skipped.push(`${String(doc.raw.kind)} in ${doc.where}`);
        }
      }
    }
    check?.(incoming);
    for (const w of writes) {
      mkdirSync(join(w.file, '..'), { recursive: true });
      // A hand-placed YAML of the same object would shadow or duplicate the applied one.
      for (const ext of ['.yaml', '.yml']) rmSync(w.file.replace(/\.json$/, ext), { force: true });
      writeAtomic(w.file, w.text);
    }
    return result;
  }

  /** Removes a policy; false when the store has none by that name. */
  delete(namespace: string, name: string): boolean {
    let found = false;
    for (const ext of EXTENSIONS) {
      const file = join(this.policyDir, namespace, `${name}${ext}`);
      try {
        statSync(file);
        rmSync(file);
        found = true;
      } catch {
        // not this extension
      }
    }
    return found;
  }

  /** Every stored policy. A file that no longer validates is an error: ignoring it would open traffic. */
  policies(): MultiNetworkPolicy[] {
    const out: MultiNetworkPolicy[] = [];
    let namespaces: string[];
    try {
      namespaces = readdirSync(this.policyDir).filter((n) => n !== NAMESPACES_DIR);
    } catch {
      return [];
    }
    for (const ns of namespaces.sort()) {
      for (const file of yamlFiles(join(this.policyDir, ns))) {
        for (const doc of readDocuments(file)) {
          if (doc.raw.kind === POLICY_KIND) out.push(parsePolicyObject(doc.raw, doc.where, ns));
        }
      }
    }
    return out;
  }

  namespaces(): NamespaceView[] {
    return yamlFiles(join(this.policyDir, NAMESPACES_DIR)).flatMap((file) =>
      readDocuments(file)
        .filter((d) => d.raw.kind === 'Namespace')
        .map(parseNamespace),
    );
  }
}
