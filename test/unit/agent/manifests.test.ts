import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { RESOURCE_PATHS } from '../../../src/agent/cluster-cache.ts';
import { braidConf } from '../../../src/cli/install/primary-conf.ts';
import { parseAgentOptions } from '../../../src/agent/options.ts';
import { registerInstall } from '../../../src/cli/install.ts';
import { loadBraidConf } from '../../../src/config/conf.ts';
import { parsePolicyObject } from '../../../src/policy/parse.ts';
import { K8S_SCHEMAS } from './k8s-schemas.ts';

/**
 * examples/kubernetes: every object against its Kubernetes schema, and against each other and
 * against braid (the DaemonSet's flags are braid's, the RBAC rules are exactly the API calls
 * braid makes, the CRDs accept the example NADs and policies).
 */
const DIR = join(import.meta.dirname, '../../../examples/kubernetes');
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

const objects: Obj[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS() as Obj))
  // kustomization.yaml is kubectl apply -k's index of the others (test/unit/deploy), not an object.
  .filter((o) => o.kind !== 'Kustomization');
const find = (kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (kind: string, name?: string) => {
  const found = find(kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

const ajv = new Ajv.default({ allErrors: true, strict: false });
ajv.addKeyword({
  keyword: 'x-kubernetes-int-or-string',
  validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || Number.isInteger(data),
});
for (const k of ['x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields']) ajv.addKeyword(k);

describe('examples/kubernetes', () => {
  it('holds the DaemonSet, ServiceAccount, RBAC, ConfigMap and both CRDs, each valid for its kind', () => {
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'DaemonSet',
      'ServiceAccount',
    ]);
    for (const o of objects) {
      const schema = K8S_SCHEMAS[`${o.apiVersion}/${o.kind}`];
      expect(schema, `no schema for ${o.apiVersion} ${o.kind}`).toBeDefined();
      const validate = ajv.compile(schema!);
      expect(validate(o) ? [] : validate.errors, `${o.kind} ${o.metadata.name}`).toEqual([]);
    }
  });

  it('the DaemonSet is consistent: selector, volumes, service account, config map', () => {
    const ds = one('DaemonSet');
    const pod = ds.spec.template.spec;
    expect(ds.spec.template.metadata.labels).toMatchObject(ds.spec.selector.matchLabels);
    const volumes = new Set(pod.volumes.map((v: { name: string }) => v.name));
    const used = new Set<string>();
    for (const c of [...pod.initContainers, ...pod.containers]) {
      for (const m of c.volumeMounts ?? []) {
        expect(volumes.has(m.name), `${c.name} mounts undeclared volume ${m.name}`).toBe(true);
        used.add(m.name);
      }
    }
    expect([...volumes].filter((v) => !used.has(v as string))).toEqual([]);
    const sa = one('ServiceAccount', pod.serviceAccountName);
    expect(sa.metadata.namespace).toBe(ds.metadata.namespace);
    const binding = one('ClusterRoleBinding');
    expect(binding.subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: sa.metadata.name,
      namespace: sa.metadata.namespace,
    });
    one('ClusterRole', binding.roleRef.name);
    const cmVolume = pod.volumes.find((v: { configMap?: unknown }) => v.configMap);
    expect(one('ConfigMap', cmVolume.configMap.name).metadata.namespace).toBe(ds.metadata.namespace);
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.hostNetwork).toBe(true);
  });

  it('runs braid-agent and braid install with flags they accept, probes on the metrics port', () => {
    const pod = one('DaemonSet').spec.template.spec;
    const agent = pod.containers.find((c: { name: string }) => c.name === 'agent');
    const argv = agent.command.slice(1).map((a: string) => a.replace('$(NODE_NAME)', 'worker-1'));
    const options = parseAgentOptions(argv, {});
    if (options === 'help') throw new Error('unexpected --help');
    expect(options.nodeName).toBe('worker-1');
    const port = agent.ports.find((p: { name: string }) => p.name === 'metrics').containerPort;
    expect(options.metricsAddress?.port).toBe(port);
    expect(agent.livenessProbe.httpGet).toEqual({ path: '/healthz', port });
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port });
    const conf = JSON.parse(one('ConfigMap').data['braid-conf.json']);
    expect(conf.agentSocket).toBe(options.socketPath);
    expect(
      agent.volumeMounts.find((m: { mountPath: string }) => options.socketPath.startsWith(`${m.mountPath}/`)),
    ).toBeDefined();

    const program = new Command();
    registerInstall(program);
    const known = new Set(program.commands.find((c) => c.name() === 'install')!.options.map((o) => o.long));
    for (const c of [...pod.initContainers, ...pod.containers].filter(
      (x: { command: string[] }) => x.command[1] === 'install',
    )) {
      for (const flag of c.command.slice(2)) expect(known.has(flag.split('=')[0]), `${c.name}: ${flag}`).toBe(true);
    }
  });

  it("the ConfigMap's keys make a braid conf braid accepts", () => {
    const extra = JSON.parse(one('ConfigMap').data['braid-conf.json']);
    const conf = braidConf({
      primary: { file: '10-flannel.conflist', cniVersion: '1.0.0', name: 'cbr0', capabilities: { portMappings: true } },
      hostConfDir: '/etc/cni/net.d',
      networkName: 'braid-cni-network',
      kubeconfig: '/etc/cni/net.d/braid.d/braid.kubeconfig',
      extra,
    });
    const loaded = loadBraidConf(conf);
    expect(loaded.agentSocket).toBe('/run/braid/braid.sock');
    expect(loaded.cniDir).toBe('/var/lib/cni/braid');
  });

  it("grants exactly the API calls braid makes plus what Multus' account has, nothing wildcard, nothing that deletes", () => {
    const granted = one('ClusterRole').rules.flatMap(
      (r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
        r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
    );
    const watched = Object.values(RESOURCE_PATHS).map((p) => {
      const m = /^\/apis?\/(?:([^/]+)\/)?v1[^/]*\/(.+)$/.exec(p)!;
      return `${m[1]?.includes('.') ? m[1] : ''}/${m[2]}`;
    });
    const needed = [
      ...watched.flatMap((r) => [`${r}:list`, `${r}:watch`]),
      '/pods:get',
      'k8s.cni.cncf.io/network-attachment-definitions:get', // ADD's API sources
      '/pods/status:patch',
      '/events:create', // network-status and events
      // Multus' account (its SetNetworkStatus updates pods/status; its event recorder patches), so either account works.
      '/pods/status:update',
      '/events:patch',
      '/events:update',
    ];
    expect([...granted].sort()).toEqual([...new Set(needed)].sort());
    expect(one('ClusterRoleBinding').subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: 'multus',
      namespace: 'kube-system',
    });
  });

  it('the CRDs are the resources the agent watches and accept the example NADs and policies', () => {
    const nadCrd = one('CustomResourceDefinition', 'network-attachment-definitions.k8s.cni.cncf.io');
    const mnpCrd = one('CustomResourceDefinition', 'multi-networkpolicies.k8s.cni.cncf.io');
    expect(RESOURCE_PATHS.nads).toBe(
      `/apis/${nadCrd.spec.group}/${nadCrd.spec.versions[0].name}/${nadCrd.spec.names.plural}`,
    );
    expect(RESOURCE_PATHS.policies).toBe(
      `/apis/${mnpCrd.spec.group}/${mnpCrd.spec.versions[0].name}/${mnpCrd.spec.names.plural}`,
    );
    expect(nadCrd.spec.names.shortNames).toEqual(['net-attach-def', 'nad']);
    expect(JSON.stringify([nadCrd, mnpCrd])).not.toContain('$ref');

    const nadSchema = ajv.compile(nadCrd.spec.versions[0].schema.openAPIV3Schema);
    const nadDir = join(DIR, '..', 'nads');
    for (const f of readdirSync(nadDir).filter((x) => x.endsWith('.yaml'))) {
      for (const d of parseAllDocuments(readFileSync(join(nadDir, f), 'utf8'))) {
        expect(nadSchema(d.toJS()) ? [] : nadSchema.errors, f).toEqual([]);
      }
    }
    const mnpSchema = ajv.compile(mnpCrd.spec.versions[0].schema.openAPIV3Schema);
    const policy = {
      apiVersion: 'k8s.cni.cncf.io/v1beta1',
      kind: 'MultiNetworkPolicy',
      metadata: { name: 'db', namespace: 'shop', annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'storage' } },
      spec: {
        podSelector: { matchLabels: { app: 'db' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['api'] }] } },
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
            ],
            ports: [{ port: 'pg' }, { protocol: 'TCP', port: 5432, endPort: 5440 }],
          },
        ],
        egress: [{ to: [{ namespaceSelector: {} }] }],
      },
    };
    expect(mnpSchema(policy) ? [] : mnpSchema.errors).toEqual([]);
    expect(parsePolicyObject(policy, 'example').policyFor).toEqual(['shop/storage']);
    const bad = {
      ...policy,
      spec: { ...policy.spec, policyTypes: ['Both'], ingress: [{ ports: [{ port: { n: 1 } }] }] },
    };
    expect(mnpSchema(bad)).toBe(false);
    expect(mnpSchema({ ...policy, spec: { policyTypes: ['Ingress'] } })).toBe(false);
  });
});
