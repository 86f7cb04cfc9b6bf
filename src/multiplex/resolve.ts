import { CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import {
  auxiliaryChain,
  inlineDelegate,
  networkConfigFromNad,
  resolveNetworkReference,
} from '../config/delegate-conf.ts';
import { leniency, type Leniency } from '../base/leniency.ts';
import type { BraidConf } from '../config/types.ts';
import { parseDefaultNetworkAnnotation, parseNetworksAnnotation } from '../k8s/annotations.ts';
import { checkNamespaceIsolation } from '../k8s/isolation.ts';
import { firstPod, type NadSource, type PodSource } from '../k8s/sources.ts';
import {
  ANNOTATION_DEFAULT_NETWORK,
  ANNOTATION_NETWORKS,
  ANNOTATION_RESOURCE_NAME,
  type NetworkSelectionElement,
  type PodInfo,
} from '../k8s/types.ts';
import type { PlanInputs, PodRef, ResolvedNetwork } from './plan-types.ts';

export interface Sources {
  pods: PodSource[];
  nads: NadSource;
  /** Records a Warning event on the pod (with API access; Multus' NoNetworkFound); never throws. */
  warn?: (pod: PodRef, reason: string, message: string) => Promise<void>;
}

/**
 * DEL without any record resolves what it can: each network that cannot be resolved is reported
 * here and kept as a placeholder (ResolvedNetwork.unresolved) instead of failing the whole call.
 */
export type Tolerate = (problem: string) => void;

function placeholder(network: string, sel: NetworkSelectionElement | undefined, why: string): ResolvedNetwork {
  const list = {
    cniVersion: '1.0.0',
    name: 'unresolved',
    disableCheck: true,
    disableGC: true,
    plugins: [],
    bytes: '{}',
  };
  const net: ResolvedNetwork = { network, list, origin: 'unresolved', unresolved: why };
  if (sel?.interface) net.selection = { name: sel.name, interface: sel.interface };
  return net;
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * The pod a call is for, from the K8S_* keys kubelet's runtimes put in CNI_ARGS. Runtimes outside
 * Kubernetes send less: podman 4 sends K8S_POD_NAME (the container or pod name) and no
 * namespace, so a name alone means the "default" namespace, as in kubectl.
 */
export function podRefFromArgs(args: [string, string][]): PodRef | undefined {
  const get = (k: string) => args.find(([key]) => key === k)?.[1];
  const name = get('K8S_POD_NAME');
  if (!name) return undefined;
  const namespace = get('K8S_POD_NAMESPACE') || 'default';
  const uid = get('K8S_POD_UID');
  return uid ? { namespace, name, uid } : { namespace, name };
}

async function nadNetwork(
  sel: NetworkSelectionElement,
  namespace: string,
  conf: BraidConf,
  sources: Sources,
  referrer: string,
  pod?: PodInfo,
): Promise<ResolvedNetwork> {
  const nad = await sources.nads.getNad(namespace, sel.name);
  const display = `${namespace}/${sel.name}`;
  if (!nad) {
    // Multus' event, word for word (k8sclient.go getKubernetesDelegate).
    const message = `cannot find a network-attachment-definition (${sel.name}) in namespace (${namespace}): network-attachment-definitions.k8s.cni.cncf.io "${sel.name}" not found`;
    if (pod)
      await sources.warn?.(
        { namespace: pod.namespace, name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) },
        'NoNetworkFound',
        message,
      );
    throw new CniError(
      CniCode.InvalidConfig,
      `NetworkAttachmentDefinition ${display} not found (${sources.nads.kind}); referenced by ${referrer}`,
    );
  }
  const resolved: ResolvedNetwork = {
    network: display,
    list: networkConfigFromNad(nad, conf.confDir),
    origin: `NAD ${display} (${sources.nads.kind})`,
    selection: sel,
  };
  const resourceName = nad.metadata.annotations?.[ANNOTATION_RESOURCE_NAME];
  if (resourceName) resolved.resourceName = resourceName;
  return resolved;
}

function inlineNetwork(conf: BraidConf, index: number): ResolvedNetwork {
  const list = inlineDelegate(conf.delegates[index]!, conf.cniVersion, index);
  return { network: list.name, list, origin: `braid conf delegates[${index}]` };
}

async function clusterNetwork(
  conf: BraidConf,
  pod: PodInfo | undefined,
  sources: Sources,
  compat: Leniency,
): Promise<ResolvedNetwork> {
  const override = pod?.annotations[ANNOTATION_DEFAULT_NETWORK];
  if (pod && override) {
    const sel = parseDefaultNetworkAnnotation(override, conf.multusNamespace, {
      pod: `${pod.namespace}/${pod.name}`,
      lenient: compat,
    });
    const namespace = sel.namespace ?? conf.multusNamespace;
    checkNamespaceIsolation(pod.namespace, namespace, sel.name, conf);
    // Its selection stays: Multus honours the element's @ifname (interface) and cni-args on the master.
    return nadNetwork(
      sel,
      namespace,
      conf,
      sources,
      `pod ${pod.namespace}/${pod.name} annotation ${ANNOTATION_DEFAULT_NETWORK}`,
      pod,
    );
  }
  if (conf.clusterNetwork) {
    const ref = await resolveNetworkReference(conf.clusterNetwork, {
      confDir: conf.confDir,
      nadSource: sources.nads,
      namespace: conf.multusNamespace,
      key: 'clusterNetwork',
      lenient: compat,
    });
    return { network: ref.network, list: ref.list, origin: `clusterNetwork "${conf.clusterNetwork}"` };
  }
  return inlineNetwork(conf, 0);
}

/**
 * The networks every pod gets after the cluster network, as Multus has them: with `clusterNetwork`,
 * `defaultNetworks` for pods outside systemNamespaces, and the inline `delegates` are not used at
 * all (GetDefaultNetworks replaces them); without it, the inline delegates after the first for
 * every pod, systemNamespaces too, and `defaultNetworks` are not used.
 */
async function resolveDefaultNetworks(
  conf: BraidConf,
  sources: Sources,
  compat: Leniency,
  inSystemNamespace: boolean,
  tolerate?: Tolerate,
): Promise<ResolvedNetwork[]> {
  const networks: ResolvedNetwork[] = [];
  if (conf.clusterNetwork === undefined) {
    for (let i = 1; i < conf.delegates.length; i++) networks.push(inlineNetwork(conf, i));
    return networks;
  }
  if (inSystemNamespace) return networks;
  for (const [i, entry] of conf.defaultNetworks.entries()) {
    const r = await resolveNetworkReference(entry, {
      confDir: conf.confDir,
      nadSource: sources.nads,
      namespace: conf.multusNamespace,
      key: `defaultNetworks[${i}]`,
      lenient: compat,
    }).catch((e: unknown) => {
      if (!tolerate) throw e;
      tolerate(reason(e));
      return undefined;
    });
    if (!r) {
      networks.push(placeholder(entry, undefined, 'unresolved'));
      continue;
    }
    const net: ResolvedNetwork = { network: r.network, list: r.list, origin: `defaultNetworks "${entry}"` };
    if (r.resourceName) net.resourceName = r.resourceName;
    networks.push(net);
  }
  return networks;
}

/**
 * Multus' auxiliaryCNIChainName needs clusterNetwork to be a file path (its directory holds the
 * chain's plugins); otherwise Multus cannot use it either, and braid goes on without it.
 */
function auxiliaryNetwork(conf: BraidConf, cluster: ResolvedNetwork, compat: Leniency): ResolvedNetwork | undefined {
  const name = conf.raw.auxiliaryCNIChainName;
  if (typeof name !== 'string' || name === '') return undefined;
  if (!conf.clusterNetwork?.startsWith('/')) {
    compat.accept(
      'auxiliaryCNIChainName',
      `needs clusterNetwork to be a file path (got ${JSON.stringify(conf.clusterNetwork ?? null)})`,
      'no auxiliary chain run',
    );
    return undefined;
  }
  const list = auxiliaryChain(conf.clusterNetwork, name, cluster.list.cniVersion);
  return { network: name, list, origin: `auxiliaryCNIChainName "${name}"` };
}

/** The networks every ADD needs whatever the pod asks for (STATUS and GC use them). */
export async function resolveConfiguredNetworks(conf: BraidConf, sources: Sources): Promise<ResolvedNetwork[]> {
  const compat = leniency(conf.strict);
  return [
    await clusterNetwork(conf, undefined, sources, compat),
    ...(await resolveDefaultNetworks(conf, sources, compat, false)),
  ];
}

/** Gathers the pod, its selections and every delegate configuration the plan needs. */
export async function resolveInputs(
  req: CniRequest,
  conf: BraidConf,
  sources: Sources,
  tolerate?: Tolerate,
): Promise<PlanInputs> {
  const ref = podRefFromArgs(req.args);
  const found = ref
    ? await firstPod(sources.pods, ref.namespace, ref.name, ref.uid).catch((e: unknown) => {
        if (!tolerate) throw e;
        tolerate(`pod ${ref.namespace}/${ref.name}: ${reason(e)}`);
        return undefined;
      })
    : undefined;
  const pod = found?.pod;
  const compat = leniency(conf.strict, [...conf.compatWarnings]);
  const cluster = await clusterNetwork(conf, pod, sources, compat).catch((e: unknown) => {
    // The cluster network's DEL is never skipped: the conf's own is the fallback.
    if (!tolerate || !pod) throw e;
    tolerate(reason(e));
    return clusterNetwork(conf, undefined, sources, compat);
  });

  const inSystemNamespace = ref !== undefined && conf.systemNamespaces.includes(ref.namespace);
  const defaultNetworks = await resolveDefaultNetworks(conf, sources, compat, inSystemNamespace, tolerate);

  const selected: ResolvedNetwork[] = [];
  const annotation = pod?.annotations[ANNOTATION_NETWORKS];
  if (pod && annotation !== undefined && annotation.trim() !== '') {
    const referrer = `pod ${pod.namespace}/${pod.name} annotation ${ANNOTATION_NETWORKS}`;
    let elements: NetworkSelectionElement[] = [];
    try {
      elements = parseNetworksAnnotation(annotation, pod.namespace, {
        pod: `${pod.namespace}/${pod.name}`,
        lenient: compat,
      });
    } catch (e) {
      if (!tolerate) throw e;
      tolerate(reason(e));
    }
    for (const sel of elements) {
      const namespace = sel.namespace ?? pod.namespace;
      try {
        checkNamespaceIsolation(pod.namespace, namespace, sel.name, conf);
        selected.push(await nadNetwork(sel, namespace, conf, sources, referrer, tolerate ? undefined : pod));
      } catch (e) {
        if (!tolerate) throw e;
        tolerate(reason(e));
        selected.push(placeholder(`${namespace}/${sel.name}`, sel, reason(e)));
      }
    }
  }

  const inputs: PlanInputs = {
    containerId: req.containerId,
    netns: req.netns,
    ifname: req.ifname,
    args: req.args,
    runtimeConfig: conf.runtimeConfig,
    cluster,
    defaultNetworks,
    selected,
    compat,
    deviceInfoDir: conf.deviceInfoDir,
  };
  const aux = auxiliaryNetwork(conf, cluster, compat);
  if (aux) inputs.auxiliary = aux;
  if (ref) inputs.pod = ref;
  return inputs;
}
