import { isIP } from 'node:net';
import type { ErrorObject } from 'ajv';
import { CniCode, CniError } from '../base/errors.ts';
import type { Leniency } from '../base/leniency.ts';
import {
  forElement,
  GO_MAC_PATTERNS,
  NPWG_KEY_NOTE,
  routesPerFamilyOnce,
  toleratedFailure,
  type ElementLeniency,
  type Tolerated,
} from './annotation-leniency.ts';
import { describeValue, schemaProblems } from '../base/schema-errors.ts';
import { validateNetworkSelection } from '../generated/validators.js';
import {
  ANNOTATION_DEFAULT_NETWORK,
  ANNOTATION_NETWORKS,
  type BandwidthEntry,
  type NetworkSelectionElement,
  type PortMapping,
} from './types.ts';

export interface AnnotationContext {
  /** The pod as `ns/name`, for messages. */
  pod?: string;
  /**
   * Accept what Multus accepts (unknown keys, nulls, zero rates, hostPort 0, 8/20-byte MACs,
   * default-route on several elements) with a warning; without it every deviation fails.
   */
  lenient?: Leniency;
}

const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * NAD names: NPWG 3.3 asks for DNS-1123 labels, but Kubernetes accepts any DNS-1123 subdomain as
 * an object name and Multus resolves dotted names too; a drop-in replacement must as well.
 */
const NAD_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAC_PATTERNS = [
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i,
  /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/i,
  /^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$/i,
];
const INFINIBAND_GUID = /^[0-9a-f]{2}(:[0-9a-f]{2}){7}$/i;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

/** Raised for one element; turned into the full message by the caller, who knows the pod. */
class ElementProblem extends Error {}

function problem(field: string, what: string, value: unknown): ElementProblem {
  return new ElementProblem(`"${field}" ${what} (got ${describeValue(value)})`);
}

/** An address with an optional prefix length, as Go's ParseIP/ParseCIDR accept them. */
export function isIpOrCidr(value: string, allowPrefix = true): boolean {
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const family = addr.includes('%') ? 0 : isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const prefix = value.slice(slash + 1);
  return allowPrefix && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A kernel interface name (cni-spec A4). */
export function interfaceNameProblem(name: string): string | undefined {
  if (Buffer.byteLength(name) > 15) return 'must be at most 15 bytes';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/[/:\s]/.test(name)) return 'must not contain "/", ":" or whitespace';
  return undefined;
}

function checkInterface(el: Record<string, unknown>): string | undefined {
  const requested = el.interface as string | undefined;
  const legacy = el.interfaceRequest as string | undefined;
  if (requested && legacy && requested !== legacy) {
    throw new ElementProblem(
      `"interface" (${JSON.stringify(requested)}) and its deprecated alias "interfaceRequest" (${JSON.stringify(legacy)}) differ`,
    );
  }
  const ifname = requested || legacy || undefined;
  if (ifname === undefined) return undefined;
  const issue = interfaceNameProblem(ifname);
  if (issue) throw problem(requested ? 'interface' : 'interfaceRequest', issue, ifname);
  return ifname;
}

function checkDefaultRoute(gateways: string[]): void {
  const families = new Set<number>();
  gateways.forEach((gw, i) => {
    if (!isIpOrCidr(gw, false)) throw problem(`default-route[${i}]`, 'must be an IP address', gw);
    const family = isIP(gw);
    if (families.has(family)) {
      throw problem('default-route', `may hold one IPv${family} gateway only (no ECMP)`, gateways);
    }
    families.add(family);
  });
}

function checkPortMappings(mappings: PortMapping[]): PortMapping[] {
  return mappings.map((m, i) => {
    const protocol = (m.protocol ?? 'TCP').toUpperCase();
    if (!PROTOCOLS.includes(protocol))
      throw problem(`portMappings[${i}].protocol`, 'must be TCP, UDP or SCTP', m.protocol);
    if (m.hostIP !== undefined && m.hostIP !== '' && !isIpOrCidr(m.hostIP, false)) {
      throw problem(`portMappings[${i}].hostIP`, 'must be an IP address', m.hostIP);
    }
    return { ...m, protocol };
  });
}

/** Checks one element (either form) and returns it normalized; the namespace defaults to the pod's. */
function normalizeElement(
  el: Record<string, unknown>,
  podNamespace: string,
  lenient?: ElementLeniency,
): NetworkSelectionElement {
  const name = el.name as string;
  if (!NAD_NAME.test(name)) throw problem('name', 'must be a NAD name (a DNS-1123 subdomain)', name);
  const namespace = (el.namespace as string | undefined) || podNamespace;
  if (!DNS_LABEL.test(namespace)) throw problem('namespace', 'must be a namespace name (a DNS-1123 label)', namespace);
  const out: NetworkSelectionElement = { name, namespace };

  const ifname = checkInterface(el);
  if (ifname !== undefined) out.interface = ifname;

  const ips = el.ips as string[] | undefined;
  ips?.forEach((ip, i) => {
    if (!isIpOrCidr(ip)) throw problem(`ips[${i}]`, 'must be an IP address or CIDR', ip);
  });
  if (ips && ips.length > 0) out.ips = ips;
  const claim = el['ipam-claim-reference'] as string | undefined;
  if (claim) {
    if (out.ips) throw problem('ipam-claim-reference', 'cannot be combined with "ips" (NPWG 8)', claim);
    out['ipam-claim-reference'] = claim;
  }

  const mac = el.mac as string | undefined;
  if (mac) {
    if (!MAC_PATTERNS.some((p) => p.test(mac))) {
      if (!lenient || !GO_MAC_PATTERNS.some((p) => p.test(mac)))
        throw problem('mac', 'must be a 6-byte MAC address like 02:11:22:33:44:55', mac);
      lenient.accept(
        'mac',
        `${JSON.stringify(mac)} is not a 6-byte MAC (NPWG)`,
        'passed on as an EUI-64/IPoIB address',
      );
    }
    out.mac = mac;
  }
  const guid = el['infiniband-guid'] as string | undefined;
  if (guid) {
    if (!INFINIBAND_GUID.test(guid)) {
      throw problem('infiniband-guid', 'must be an 8-byte GUID like 02:11:22:33:44:55:66:77', guid);
    }
    out['infiniband-guid'] = guid;
  }
  if (Array.isArray(el['default-route'])) {
    checkDefaultRoute(el['default-route'] as string[]);
    out['default-route'] = el['default-route'] as string[];
  }
  if (Array.isArray(el.portMappings) && el.portMappings.length > 0) {
    out.portMappings = checkPortMappings(el.portMappings as PortMapping[]);
  }
  if (el.bandwidth !== undefined) out.bandwidth = el.bandwidth as BandwidthEntry;
  if (el['cni-args'] !== undefined) out['cni-args'] = el['cni-args'] as Record<string, unknown>;
  if (el.deviceID) out.deviceID = el.deviceID as string;
  return out;
}

/** `[ns/]name[@ifname]`, as Multus splits it (k8sclient.go parsePodNetworkObjectName). */
function csvElement(item: string): Record<string, unknown> {
  const slash = item.split('/');
  if (slash.length > 2) throw problem('name', 'must be name, ns/name or ns/name@ifname', item);
  const nameAndIf = slash[slash.length - 1]!;
  const at = nameAndIf.split('@');
  if (at.length > 2) throw problem('name', 'must be name, ns/name or ns/name@ifname', item);
  const el: Record<string, unknown> = { name: at[0]!.trim() };
  if (slash.length === 2) el.namespace = slash[0]!.trim();
  if (at.length === 2) {
    el.interface = at[1]!.trim();
    if (el.interface === '') throw problem('interface', 'must not be empty after "@"', item);
  }
  return el;
}

function schemaFailures(errors: readonly ErrorObject[], doc: unknown): { index: number | undefined; text: string }[] {
  const byIndex = new Map<number | undefined, ErrorObject[]>();
  for (const err of errors) {
    const m = /^\/(\d+)(\/.*)?$/.exec(err.instancePath);
    const index = m ? Number(m[1]) : undefined;
    const local = m ? { ...err, instancePath: m[2] ?? '' } : err;
    byIndex.set(index, [...(byIndex.get(index) ?? []), local]);
  }
  return [...byIndex].map(([index, errs]) => {
    const data = index === undefined ? doc : (doc as unknown[])[index];
    const phrases = schemaProblems(errs, data).map((p) => (p.endsWith('is not a known key') ? p + NPWG_KEY_NOTE : p));
    return { index, text: phrases.join('; ') };
  });
}

function parseElements(
  value: string,
  podNamespace: string,
  fail: (index: number | undefined, text: string) => CniError,
  lenient?: { leniency: Leniency; annotation: string },
): NetworkSelectionElement[] {
  const trimmed = value.trim();
  if (trimmed === '') return [];
  let raw: Record<string, unknown>[];
  if (/[[{"]/.test(trimmed)) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch (e) {
      throw fail(undefined, `is not valid JSON: ${(e as Error).message}`);
    }
    if (!validateNetworkSelection(doc)) {
      const errors = validateNetworkSelection.errors ?? [];
      const tolerated = lenient ? errors.map((e) => toleratedFailure(e, doc)) : [];
      if (!lenient || tolerated.some((t) => t === undefined)) {
        const [first] = schemaFailures(
          errors.filter((_e, i) => !tolerated[i]),
          doc,
        );
        throw fail(first?.index, first?.text ?? 'does not match the NetworkSelectionElement schema');
      }
      for (const t of tolerated as Tolerated[]) {
        forElement(lenient.leniency, lenient.annotation, t.index).accept(t.field, t.problem, t.action);
        t.fix((doc as Record<string, unknown>[])[t.index]!);
      }
    }
    raw = doc as Record<string, unknown>[];
  } else {
    raw = trimmed.split(',').map((item, i) => {
      const t = item.trim();
      if (t === '') throw fail(i, 'is empty (stray comma?)');
      try {
        return csvElement(t);
      } catch (e) {
        throw fail(i, (e as Error).message);
      }
    });
  }
  const elements = raw.map((el, i) => {
    try {
      return normalizeElement(el, podNamespace, lenient && forElement(lenient.leniency, lenient.annotation, i));
    } catch (e) {
      if (e instanceof ElementProblem) throw fail(i, e.message);
      throw e;
    }
  });
  crossCheck(elements, fail, lenient && ((i: number) => forElement(lenient.leniency, lenient.annotation, i)));
  return elements;
}

/** Rules that involve more than one element. */
function crossCheck(
  elements: NetworkSelectionElement[],
  fail: (index: number | undefined, text: string) => CniError,
  lenient?: (index: number) => ElementLeniency,
): void {
  const withRoute = elements.flatMap((el, i) => (el['default-route'] ? [i] : []));
  if (withRoute.length > 1) {
    const text = `"default-route" is also set on element ${withRoute[0]}; NPWG allows it on one element only`;
    if (!lenient || !routesPerFamilyOnce(elements)) throw fail(withRoute[1], text);
    lenient(withRoute[1]!).accept(
      'default-route',
      text.slice('"default-route" '.length),
      "each family's gateway applied, as Multus does",
    );
  }
  const seen = new Map<string, number>();
  elements.forEach((el, i) => {
    if (!el.interface) return;
    const earlier = seen.get(el.interface);
    if (earlier !== undefined)
      throw fail(i, `"interface" ${JSON.stringify(el.interface)} is already requested by element ${earlier}`);
    seen.set(el.interface, i);
  });
}

function failer(annotation: string, who: string) {
  return (index: number | undefined, text: string) =>
    new CniError(
      CniCode.InvalidConfig,
      `${who}: annotation ${annotation}${index === undefined ? '' : ` element ${index}`}: ${text}`,
    );
}

/**
 * Parses `k8s.v1.cni.cncf.io/networks`: JSON when the value holds '[', '{' or '"', else the
 * comma form `[ns/]name[@ifname]`. Any invalid element makes the whole annotation invalid
 * (CniError 7 naming the pod, the element and the field).
 */
export function parseNetworksAnnotation(
  value: string,
  podNamespace: string,
  ctx: AnnotationContext = {},
): NetworkSelectionElement[] {
  // strict: the NPWG failures as they always were, naming the pod.
  const lenient =
    ctx.lenient && !ctx.lenient.strict ? { leniency: ctx.lenient, annotation: ANNOTATION_NETWORKS } : undefined;
  return parseElements(
    value,
    podNamespace,
    failer(ANNOTATION_NETWORKS, ctx.pod ? `pod ${ctx.pod}` : `pod in namespace ${podNamespace}`),
    lenient,
  );
}

/** Parses `v1.multus-cni.io/default-network`: exactly one element, namespace defaulting to multusNamespace. */
export function parseDefaultNetworkAnnotation(
  value: string,
  defaultNamespace: string,
  ctx: AnnotationContext = {},
): NetworkSelectionElement {
  const fail = failer(ANNOTATION_DEFAULT_NETWORK, ctx.pod ? `pod ${ctx.pod}` : 'pod');
  const lenient =
    ctx.lenient && !ctx.lenient.strict ? { leniency: ctx.lenient, annotation: ANNOTATION_DEFAULT_NETWORK } : undefined;
  const elements = parseElements(value, defaultNamespace, fail, lenient);
  if (elements.length !== 1) throw fail(undefined, `must name exactly one network (got ${elements.length})`);
  return elements[0]!;
}
