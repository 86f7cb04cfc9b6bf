import { parseAllDocuments } from 'yaml';
import {
  ANNOTATION_POLICY_FOR,
  POLICY_API_GROUP,
  POLICY_KIND,
  type MultiNetworkPolicy,
  type NamespaceView,
  type PolicyRule,
  type PolicyType,
} from './model.ts';
import {
  FieldError,
  invalidDocument,
  isObject,
  listAt,
  objectAt,
  parsePeer,
  parsePort,
  parseSelector,
  type Raw,
} from './parse-fields.ts';

const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const SERVED_VERSIONS = [`${POLICY_API_GROUP}/v1beta1`];

export interface ParsedDocuments {
  policies: MultiNetworkPolicy[];
  namespaces: NamespaceView[];
  /** Documents of other kinds, as "kind name (where)". */
  skipped: string[];
}

/** Splits the `policy-for` annotation into `namespace/name` networks (a bare name: the policy's namespace). */
export function parsePolicyFor(value: string, namespace: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const parts = s.split('/');
      if (parts.length > 2 || parts.some((p) => !DNS_SUBDOMAIN.test(p))) {
        throw new FieldError(
          `metadata.annotations["${ANNOTATION_POLICY_FOR}"]`,
          `"${s}" is not a NAD name or namespace/name`,
        );
      }
      return parts.length === 2 ? s : `${namespace}/${s}`;
    });
}

function parseRules(v: unknown, field: string, peersKey: 'from' | 'to'): PolicyRule[] {
  return listAt(v, field).map((r, i) => {
    const at = `${field}[${i}]`;
    const raw = objectAt(r, at);
    return {
      ports: listAt(raw.ports, `${at}.ports`).map((p, j) => parsePort(p, `${at}.ports[${j}]`)),
      peers: listAt(raw[peersKey], `${at}.${peersKey}`).map((p, j) => parsePeer(p, `${at}.${peersKey}[${j}]`)),
    };
  });
}

function parsePolicyTypes(spec: Raw): PolicyType[] {
  if (spec.policyTypes === undefined || spec.policyTypes === null) {
    // Kubernetes' defaulting: Ingress always, Egress when the policy has egress rules.
    return listAt(spec.egress, 'spec.egress').length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  const types = listAt(spec.policyTypes, 'spec.policyTypes');
  for (const t of types) {
    if (t !== 'Ingress' && t !== 'Egress')
      throw new FieldError('spec.policyTypes', `"${String(t)}" is not Ingress or Egress`);
  }
  return [...new Set(types as PolicyType[])];
}

function metadataOf(
  doc: Raw,
  defaultNamespace: string,
): { name: string; namespace: string; annotations: Raw; labels: Raw } {
  const meta = objectAt(doc.metadata, 'metadata');
  if (typeof meta.name !== 'string' || !DNS_SUBDOMAIN.test(meta.name)) {
    throw new FieldError('metadata.name', `must be a lower-case DNS name, got ${JSON.stringify(meta.name)}`);
  }
  const namespace = meta.namespace ?? defaultNamespace;
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) {
    throw new FieldError('metadata.namespace', `must be a namespace name, got ${JSON.stringify(meta.namespace)}`);
  }
  return {
    name: meta.name,
    namespace,
    annotations: objectAt(meta.annotations, 'metadata.annotations'),
    labels: objectAt(meta.labels, 'metadata.labels'),
  };
}

/** One MultiNetworkPolicy object (already decoded from YAML or JSON). */
export function parsePolicyObject(doc: Raw, source: string, defaultNamespace = 'default'): MultiNetworkPolicy {
  let where = `${source}: MultiNetworkPolicy`;
  try {
    if (!SERVED_VERSIONS.includes(String(doc.apiVersion))) {
      throw new FieldError(
        'apiVersion',
        `must be ${SERVED_VERSIONS.join(' or ')}, got ${JSON.stringify(doc.apiVersion)}`,
      );
    }
    const meta = metadataOf(doc, defaultNamespace);
    where = `${source}: MultiNetworkPolicy ${meta.namespace}/${meta.name}`;
    const policyForRaw = meta.annotations[ANNOTATION_POLICY_FOR];
    if (policyForRaw !== undefined && typeof policyForRaw !== 'string') {
      throw new FieldError(`metadata.annotations["${ANNOTATION_POLICY_FOR}"]`, 'must be a string');
    }
    const spec = objectAt(doc.spec, 'spec');
    if (spec.podSelector === undefined || spec.podSelector === null) {
      throw new FieldError('spec.podSelector', 'is required ({} selects every pod of the namespace)');
    }
    const policy: MultiNetworkPolicy = {
      namespace: meta.namespace,
      name: meta.name,
      policyFor: policyForRaw === undefined ? [] : parsePolicyFor(policyForRaw, meta.namespace),
      podSelector: parseSelector(spec.podSelector, 'spec.podSelector'),
      policyTypes: parsePolicyTypes(spec),
      ingress: parseRules(spec.ingress, 'spec.ingress', 'from'),
      egress: parseRules(spec.egress, 'spec.egress', 'to'),
      source,
    };
    return policy;
  } catch (e) {
    throw invalidDocument(where, e);
  }
}

function parseNamespaceObject(doc: Raw, source: string): NamespaceView {
  try {
    const meta = metadataOf({ metadata: { ...objectAt(doc.metadata, 'metadata'), namespace: 'default' } }, 'default');
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta.labels)) {
      if (typeof v !== 'string') throw new FieldError(`metadata.labels.${k}`, 'must be a string');
      labels[k] = v;
    }
    if (!DNS_LABEL.test(meta.name)) throw new FieldError('metadata.name', `"${meta.name}" is not a namespace name`);
    return { name: meta.name, labels };
  } catch (e) {
    throw invalidDocument(`${source}: Namespace`, e);
  }
}

export interface RawDocument {
  raw: Raw;
  /** "file" or "file (document N)", for messages. */
  where: string;
}

/** The objects of a YAML (or JSON) text; `kind: List` items are flattened. */
export function splitDocuments(text: string, source: string): RawDocument[] {
  const docs = parseAllDocuments(text);
  const list = (Array.isArray(docs) ? docs : [docs]).filter(
    (d) => d.errors.length > 0 || (d.contents !== null && d.toJS() !== null),
  );
  const out: RawDocument[] = [];
  list.forEach((d, i) => {
    const where = list.length > 1 ? `${source} (document ${i + 1})` : source;
    if (d.errors.length > 0) throw invalidDocument(where, `not valid YAML: ${d.errors[0]!.message}`);
    const value: unknown = d.toJS();
    if (!isObject(value)) throw invalidDocument(where, 'is not a Kubernetes object');
    const items = value.kind === 'List' ? listAt(value.items, 'items') : [value];
    for (const item of items) {
      if (!isObject(item)) throw invalidDocument(where, 'list item is not a Kubernetes object');
      out.push({ raw: item, where });
    }
  });
  return out;
}

export function parseNamespace(doc: RawDocument): NamespaceView {
  return parseNamespaceObject(doc.raw, doc.where);
}

/** Every document of a YAML (or JSON) text: policies and namespaces; other kinds are listed as skipped. */
export function parsePolicyDocuments(text: string, source: string, defaultNamespace = 'default'): ParsedDocuments {
  const out: ParsedDocuments = { policies: [], namespaces: [], skipped: [] };
  for (const { raw, where } of splitDocuments(text, source)) {
    if (raw.kind === POLICY_KIND) out.policies.push(parsePolicyObject(raw, where, defaultNamespace));
    else if (raw.kind === 'Namespace') out.namespaces.push(parseNamespaceObject(raw, where));
    else out.skipped.push(`${String(raw.kind)} ${String(objectAt(raw.metadata, 'metadata').name ?? '')} (${where})`);
  }
  return out;
}
