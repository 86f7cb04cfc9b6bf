import { loadYaml } from './yaml-loader.ts';
import { type YamlDocCache, yamlDocuments } from './parsed-yaml-cache.ts';
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../base/atomic-file.ts';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { serializeNetworkStatus } from './network-status.ts';
import type { PodSource } from './sources.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus, type PodInfo } from './types.ts';

const EXTENSIONS = ['.yaml', '.yml', '.json'];
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes names only, so that a name can never walk out of the store's directory. */
function isStorableName(namespace: string, name: string): boolean {
  return DNS_LABEL.test(namespace) && DNS_SUBDOMAIN.test(name);
}

function invalid(file: string, problem: string): CniError {
  return new CniError(CniCode.InvalidConfig, `pod manifest ${file}: ${problem}`);
}

function stringMap(value: unknown, file: string, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(file, `"${field}" must be a map`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw invalid(file, `"${field}.${k}" must be a string (quote the value in YAML) (got ${JSON.stringify(v)})`);
    }
  }
  return value as Record<string, string>;
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CniError(CniCode.IoFailure, `cannot read pod manifest ${file}: ${(e as Error).message}`);
  }
}

/**
 * The local pod store: `<podDir>/<namespace>/<name>.yaml` (or .yml, .json) holding a Pod
 * manifest. braid's embedded pod source when there is no API server (demo, tests, edge nodes).
 */
export class PodStore implements PodSource {
  readonly kind = 'pod-store';

  constructor(
    readonly podDir: string,
    private readonly yamlCache?: YamlDocCache,
  ) {}

  /**
   * braid's writes go to a status file beside the manifest, as the API server keeps status apart
   * from spec: the user's manifest stays as written, and no YAML has to be re-rendered per ADD.
   */
  statusFile(namespace: string, name: string): string {
    return join(this.podDir, namespace, '.status', `${name}.json`);
  }

  private storedStatusAnnotations(namespace: string, name: string): Record<string, string> {
    const text = readIfExists(this.statusFile(namespace, name));
    if (text === undefined) return {};
    try {
      const doc = JSON.parse(text) as { metadata?: { annotations?: unknown } };
      return stringMap(doc.metadata?.annotations, this.statusFile(namespace, name), 'metadata.annotations');
    } catch {
      return {};
    }
  }

  /** The manifest file of a pod and its text, if the store has one. */
  private find(namespace: string, name: string): { file: string; text: string } | undefined {
    for (const ext of EXTENSIONS) {
      const file = join(this.podDir, namespace, `${name}${ext}`);
      const text = readIfExists(file);
      if (text !== undefined) return { file, text };
    }
    return undefined;
  }

  private async parse(file: string, text: string): Promise<unknown> {
    try {
      if (file.endsWith('.json')) return JSON.parse(text);
      const docs = await yamlDocuments(
        file,
        text,
        async (t) => [(await loadYaml()).parse(t) as unknown],
        this.yamlCache,
      );
      return docs[0];
    } catch (e) {
      throw invalid(file, `cannot be parsed: ${(e as Error).message}`);
    }
  }

  async getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined> {
    if (!isStorableName(namespace, name)) return undefined;
    const found = this.find(namespace, name);
    if (!found) return undefined;
    const doc = await this.parse(found.file, found.text);
    const meta = (doc as { metadata?: Record<string, unknown> } | null)?.metadata;
    if (typeof meta !== 'object' || meta === null) throw invalid(found.file, 'has no "metadata"');
    if (meta.name !== undefined && meta.name !== name) {
      throw invalid(
        found.file,
        `"metadata.name" is ${JSON.stringify(meta.name)} but the file is for pod ${namespace}/${name}`,
      );
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw invalid(
        found.file,
        `"metadata.namespace" is ${JSON.stringify(meta.namespace)} but the file is for pod ${namespace}/${name}`,
      );
    }
    const storedUid = typeof meta.uid === 'string' && meta.uid !== '' ? meta.uid : undefined;
    // A different UID is another incarnation of the pod: this store does not know the asked one.
    if (uid && storedUid && uid !== storedUid) return undefined;
    const pod: PodInfo = {
      namespace,
      name,
      labels: stringMap(meta.labels, found.file, 'metadata.labels'),
      annotations: {
        ...stringMap(meta.annotations, found.file, 'metadata.annotations'),
        ...this.storedStatusAnnotations(namespace, name),
      },
    };
    if (storedUid) pod.uid = storedUid;
    return pod;
  }

  /** Writes a pod as a YAML manifest (CLI, demo, tests). */
  async writePod(pod: PodInfo): Promise<string> {
    if (!isStorableName(pod.namespace, pod.name)) {
      throw new CniError(
        CniCode.InvalidConfig,
        `pod ${pod.namespace}/${pod.name}: not a valid Kubernetes namespace/name`,
      );
    }
    const metadata: Record<string, unknown> = { name: pod.name, namespace: pod.namespace };
    if (pod.uid) metadata.uid = pod.uid;
    if (Object.keys(pod.labels).length > 0) metadata.labels = pod.labels;
    if (Object.keys(pod.annotations).length > 0) metadata.annotations = pod.annotations;
    const { stringify } = await loadYaml();
    const file = join(this.podDir, pod.namespace, `${pod.name}.yaml`);
    writeFileAtomic(file, stringify({ apiVersion: 'v1', kind: 'Pod', metadata }), { durable: true, mode: 0o644 });
    return file;
  }

  /** Removes the pod's manifest; false when there was none. */
  removePod(namespace: string, name: string): boolean {
    if (!isStorableName(namespace, name)) return false;
    const found = this.find(namespace, name);
    if (found) rmSync(found.file, { force: true });
    rmSync(this.statusFile(namespace, name), { force: true });
    return found !== undefined;
  }

  /**
   * Records the network-status annotation in the pod's status file (not in the manifest). False
   * when the store has no manifest for the pod.
   */
  async setNetworkStatus(namespace: string, name: string, entries: readonly NetworkStatus[]): Promise<boolean> {
    if (!isStorableName(namespace, name)) return false;
    if (!this.find(namespace, name)) return false;
    const doc = { metadata: { annotations: { [ANNOTATION_NETWORK_STATUS]: serializeNetworkStatus(entries) } } };
    writeFileAtomic(this.statusFile(namespace, name), `${JSON.stringify(doc, null, 2)}\n`, {
      durable: false,
      mode: 0o644,
    });
    return true;
  }
}
