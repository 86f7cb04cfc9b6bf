import { compileInterface, type CompiledInterface } from '../../../src/policy/compile.ts';
import type { ClusterView, MultiNetworkPolicy, NamedPort, NamespaceView, PodView } from '../../../src/policy/model.ts';
import { parsePolicyDocuments } from '../../../src/policy/parse.ts';
import { allows } from '../../../src/policy/verdict.ts';

/** Small builders for compiler tests: pods with addresses per network, policies from YAML. */
export function pod(
  ns: string,
  name: string,
  labels: Record<string, string>,
  addresses: Record<string, string[]>,
  namedPorts: NamedPort[] = [],
): PodView {
  return {
    namespace: ns,
    name,
    labels,
    namedPorts,
    attachments: Object.entries(addresses).map(([network, ips]) => ({ network, ips })),
  };
}

export function policiesFrom(yaml: string): MultiNetworkPolicy[] {
  return parsePolicyDocuments(yaml, 'test.yaml').policies;
}

export function view(pods: PodView[], namespaces: NamespaceView[] = []): ClusterView {
  return { pods, namespaces };
}

/** Compiles the policies for `target` on `network` and answers connection questions. */
export function decide(policies: MultiNetworkPolicy[], v: ClusterView, target: PodView, network: string) {
  const compiled: CompiledInterface = compileInterface(policies, v, { pod: target, network });
  return {
    compiled,
    in: (peer: string, port?: number, proto = 6) => allows(compiled, 'ingress', { peer, proto, port }),
    out: (peer: string, port?: number, proto = 6) => allows(compiled, 'egress', { peer, proto, port }),
  };
}

/** A MultiNetworkPolicy document. */
export function mnp(name: string, ns: string, policyFor: string | undefined, spec: string): string {
  const annotations =
    policyFor === undefined ? '' : `\n  annotations:\n    k8s.v1.cni.cncf.io/policy-for: "${policyFor}"`;
  return `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata:
  name: ${name}
  namespace: ${ns}${annotations}
spec:
${spec
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
---
`;
}
