import { CniCode, CniError } from '../base/errors.ts';

export interface IsolationConf {
  namespaceIsolation: boolean;
  /** Namespaces any pod may use NADs from; the config loader turns Multus' "" into ["default"]. */
  globalNamespaces: readonly string[];
}

/**
 * NPWG 7.4: a pod referencing a NAD it may not use must fail. With namespaceIsolation a pod may
 * use NADs of its own namespace and of the global namespaces only. braid applies this to every
 * reference, the default-network annotation included (Multus skips that one, #1291).
 */
export function checkNamespaceIsolation(
  podNamespace: string,
  nadNamespace: string,
  nadName: string,
  conf: IsolationConf,
): void {
  if (!conf.namespaceIsolation) return;
  if (nadNamespace === podNamespace || conf.globalNamespaces.includes(nadNamespace)) return;
  const globals = conf.globalNamespaces.length ? conf.globalNamespaces.join(', ') : 'none';
  throw new CniError(
    CniCode.InvalidConfig,
    `pod in namespace "${podNamespace}" may not use NetworkAttachmentDefinition ${nadNamespace}/${nadName}: namespaceIsolation allows only the pod's own namespace and the global namespaces (${globals})`,
  );
}

/**
 * Whether the pod's namespace is one of systemNamespaces (no defaultNetworks, no network-status).
 * Multus compares the pod's name here by mistake (#1205); braid compares the namespace.
 */
export function isSystemNamespace(podNamespace: string, systemNamespaces: readonly string[]): boolean {
  return systemNamespaces.includes(podNamespace);
}
