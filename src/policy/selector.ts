import { LABEL_NAMESPACE_NAME, type ClusterView, type LabelSelector, type SelectorRequirement } from './model.ts';

/** Kubernetes label selector semantics: every matchLabels pair and every expression must hold. */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((req) => matchesRequirement(req, labels));
}

function matchesRequirement(req: SelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case 'In':
      return has && req.values.includes(labels[req.key]!);
    case 'NotIn':
      // As in Kubernetes: a missing label is "not in" any set.
      return !has || !req.values.includes(labels[req.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

/** A namespace's labels, with the name label Kubernetes sets on every namespace. */
export function namespaceLabels(view: ClusterView, namespace: string): Record<string, string> {
  const known = view.namespaces.find((n) => n.name === namespace);
  return { ...(known?.labels ?? {}), [LABEL_NAMESPACE_NAME]: namespace };
}

/** Every namespace the view knows of: listed ones and those that have pods. */
export function allNamespaces(view: ClusterView): string[] {
  return [...new Set([...view.namespaces.map((n) => n.name), ...view.pods.map((p) => p.namespace)])].sort();
}

export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${e.values.join(',')})`);
  }
  return parts.length === 0 ? '{}' : parts.join(',');
}
