import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CniCode, CniError } from '../cni/errors.ts';
import { POLICY_KIND, policyKey, type MultiNetworkPolicy, type NamespaceView } from './model.ts';
import { parseNamespace, parsePolicyObject, splitDocuments } from './parse.ts';

/**
 * The local policy store, braid's embedded policy source when there is no API server:
 *   <policyDir>/<namespace>/<name>.yaml   one MultiNetworkPolicy each, as applied
 *   <policyDir>/_namespaces/<name>.yaml  Namespace objects, for namespaceSelector labels
 * ("_namespaces" cannot clash: namespace names cannot start with "_").
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
    throw new CniError(CniCode.IoFailure, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return isDir ? yamlFiles(path) : [path];
}

export class PolicyStore {
  constructor(readonly policyDir: string) {}

  private policyFile(namespace: string, name: string): string {
    return join(this.policyDir, namespace, `${name}.yaml`);
  }

  /**
   * Validates every document of the files first and writes only when all are valid, so that a
   * typo in one policy never leaves half of a directory applied.
   */
  apply(files: string[], defaultNamespace = 'default'): ApplyResult {
    const result: ApplyResult = { policies: [], namespaces: [], skipped: [] };
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
          writes.push({ file: this.policyFile(policy.namespace, policy.name), text: stringify(raw) });
          result.policies.push(policyKey(policy));
        } else if (doc.raw.kind === 'Namespace') {
          const ns = parseNamespace(doc);
          writes.push({ file: join(this.policyDir, NAMESPACES_DIR, `${ns.name}.yaml`), text: stringify(doc.raw) });
          result.namespaces.push(ns.name);
        } else {
          result.skipped.push(`${String(doc.raw.kind)} in ${doc.where}`);
        }
      }
    }
    for (const w of writes) {
      mkdirSync(join(w.file, '..'), { recursive: true });
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
        for (const doc of splitDocuments(readFileSync(file, 'utf8'), file)) {
          if (doc.raw.kind === POLICY_KIND) out.push(parsePolicyObject(doc.raw, doc.where, ns));
        }
      }
    }
    return out;
  }

  namespaces(): NamespaceView[] {
    return yamlFiles(join(this.policyDir, NAMESPACES_DIR)).flatMap((file) =>
      splitDocuments(readFileSync(file, 'utf8'), file)
        .filter((d) => d.raw.kind === 'Namespace')
        .map(parseNamespace),
    );
  }
}
