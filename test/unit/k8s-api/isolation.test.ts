import { describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import { checkNamespaceIsolation, isSystemNamespace } from '../../../src/k8s/isolation.ts';

const isolated = { namespaceIsolation: true, globalNamespaces: ['default'] };

describe('namespaceIsolation (NPWG 7.4)', () => {
  it("allows a NAD of the pod's own namespace and of a global namespace", () => {
    expect(() => checkNamespaceIsolation('team-a', 'team-a', 'macvlan', isolated)).not.toThrow();
    expect(() => checkNamespaceIsolation('team-a', 'default', 'shared', isolated)).not.toThrow();
  });

  it('refuses a NAD of another namespace, naming the namespace and the NAD', () => {
    let err: unknown;
    try {
      checkNamespaceIsolation('team-a', 'team-b', 'secret-net', isolated);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toContain('namespace "team-a"');
    expect((err as CniError).message).toContain('team-b/secret-net');
    expect((err as CniError).message).toContain('(default)');
  });

  it('uses globalNamespaces instead of the implicit "default"', () => {
    const conf = { namespaceIsolation: true, globalNamespaces: ['shared-nets', 'infra'] };
    expect(() => checkNamespaceIsolation('team-a', 'infra', 'n', conf)).not.toThrow();
    expect(() => checkNamespaceIsolation('team-a', 'default', 'n', conf)).toThrow(/default\/n.*\(shared-nets, infra\)/);
  });

  it('allows everything when namespaceIsolation is off', () => {
    expect(() =>
      checkNamespaceIsolation('team-a', 'team-b', 'n', { namespaceIsolation: false, globalNamespaces: [] }),
    ).not.toThrow();
  });
});

describe('systemNamespaces', () => {
  it("compares the pod's namespace, not its name (Multus #1205)", () => {
    expect(isSystemNamespace('kube-system', ['kube-system'])).toBe(true);
    expect(isSystemNamespace('default', ['kube-system'])).toBe(false);
  });
});
