import { isIP } from 'node:net';
import type { ErrorObject } from 'ajv';
import type { Leniency } from '../base/leniency.ts';
import type { NetworkSelectionElement } from './types.ts';

/**
 * What the annotation parser (annotations.ts) accepts the way Multus does, with a warning, unless
 * `strict`: Multus decodes elements with Go's encoding/json and parses MACs with net.ParseMAC, so
 * unknown keys, nulls, zero rates and ports and 8/20-byte MACs pass there.
 */

export const NPWG_KEY_NOTE = ' (non-standard keys must be reverse-DNS names, i.e. contain a dot: NPWG 4.1.2.1)';

/** Go's net.ParseMAC also takes EUI-64 (8 bytes) and IPoIB (20 bytes) addresses, which Multus passes on. */
export const GO_MAC_PATTERNS = [8, 20].flatMap((n) => [
  new RegExp(`^[0-9a-f]{2}(:[0-9a-f]{2}){${n - 1}}$`, 'i'),
  new RegExp(`^[0-9a-f]{2}(-[0-9a-f]{2}){${n - 1}}$`, 'i'),
  new RegExp(`^[0-9a-f]{4}(\\.[0-9a-f]{4}){${n / 2 - 1}}$`, 'i'),
]);

/** Leniency for one element: fields are named `annotation <name> element <i> "<field>"`. */
export interface ElementLeniency {
  accept(field: string, problem: string, action: string): void;
}

export function forElement(lenient: Leniency, annotation: string, index: number): ElementLeniency {
  return {
    accept: (field, problem, action) =>
      lenient.accept(`annotation ${annotation} element ${index} "${field}"`, problem, action),
  };
}

export interface Tolerated {
  index: number;
  field: string;
  problem: string;
  action: string;
  /** Makes the element valid the way Multus reads it. */
  fix(el: Record<string, unknown>): void;
}

function valueAt(doc: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>(
      (v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined),
      doc,
    );
}

/**
 * Schema failures Multus does not have (it decodes with Go's encoding/json): an unknown key, a
 * null, a zero bandwidth field or hostPort (what the Go client marshals for unset fields).
 */
export function toleratedFailure(err: ErrorObject, doc: unknown): Tolerated | undefined {
  const m = /^\/(\d+)((?:\/[^/]+)*)$/.exec(err.instancePath);
  if (!m) return undefined;
  const index = Number(m[1]);
  const rest = m[2] ?? '';
  const value = valueAt(doc, err.instancePath);
  if (err.keyword === 'additionalProperties' && rest === '') {
    const key = String((err.params as { additionalProperty: string }).additionalProperty);
    return {
      index,
      field: key,
      problem: 'is not a known key' + NPWG_KEY_NOTE,
      action: 'ignored',
      fix: (el) => delete el[key],
    };
  }
  if (err.keyword === 'type' && value === null && /^\/[^/]+$/.test(rest)) {
    const key = rest.slice(1);
    return { index, field: key, problem: 'is null', action: 'treated as absent', fix: (el) => delete el[key] };
  }
  const bw = /^\/bandwidth\/(\w+)$/.exec(rest);
  if (err.keyword === 'exclusiveMinimum' && value === 0 && bw) {
    const key = bw[1]!;
    return {
      index,
      field: `bandwidth.${key}`,
      problem: 'is 0 (what the Go client writes for an unset field)',
      action: 'treated as unset',
      fix: (el) => {
        const b = el.bandwidth as Record<string, unknown>;
        delete b[key];
        if (Object.keys(b).length === 0) delete el.bandwidth;
      },
    };
  }
  const port = /^\/portMappings\/(\d+)\/hostPort$/.exec(rest);
  if (err.keyword === 'minimum' && value === 0 && port) {
    return {
      index,
      field: `portMappings[${port[1]}].hostPort`,
      problem: 'is 0',
      action: 'passed on as Multus does',
      fix: () => undefined,
    };
  }
  return undefined;
}

/**
 * Multus takes `default-route` on several elements as long as no family has two gateways
 * (CheckGatewayConfig: "multus does not support ECMP"); dual-stack pods put the IPv4 gateway on
 * one network and the IPv6 one on another.
 */
export function routesPerFamilyOnce(elements: NetworkSelectionElement[]): boolean {
  const families = new Set<number>();
  for (const gw of elements.flatMap((el) => el['default-route'] ?? [])) {
    if (families.has(isIP(gw))) return false;
    families.add(isIP(gw));
  }
  return true;
}
