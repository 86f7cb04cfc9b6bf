import { CniCode, CniError } from '../base/errors.ts';
import { containsPrefix, parseCidr } from './cidr.ts';
import type { IpBlock, LabelSelector, PolicyPeer, PolicyPort, Protocol, SelectorOperator } from './model.ts';

/**
 * Field-level parsers for MultiNetworkPolicy documents. Each takes the raw YAML value and the
 * path of the field ("spec.ingress[0].from[1]") so that errors point at what to fix.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

export function invalidDocument(where: string, e: unknown): CniError {
  const why = e instanceof Error ? e.message : String(e);
  return new CniError(CniCode.InvalidConfig, `${where}: ${why}`);
}

export type Raw = Record<string, unknown>;

export function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objectAt(v: unknown, field: string): Raw {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new FieldError(field, `must be a map, got ${JSON.stringify(v)}`);
  return v;
}

export function listAt(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new FieldError(field, `must be a list, got ${JSON.stringify(v)}`);
  return v;
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const OPERATORS: SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export function parseSelector(v: unknown, field: string): LabelSelector {
  const raw = objectAt(v, field);
  const matchLabels: Record<string, string> = {};
  for (const [k, value] of Object.entries(objectAt(raw.matchLabels, `${field}.matchLabels`))) {
    if (!LABEL_KEY.test(k)) throw new FieldError(`${field}.matchLabels`, `"${k}" is not a valid label key`);
    if (typeof value !== 'string') {
      throw new FieldError(
        `${field}.matchLabels.${k}`,
        `must be a string (quote it in YAML), got ${JSON.stringify(value)}`,
      );
    }
    matchLabels[k] = value;
  }
  const matchExpressions = listAt(raw.matchExpressions, `${field}.matchExpressions`).map((e, i) => {
    const at = `${field}.matchExpressions[${i}]`;
    const r = objectAt(e, at);
    if (typeof r.key !== 'string' || !LABEL_KEY.test(r.key)) throw new FieldError(`${at}.key`, 'must be a label key');
    const operator = r.operator as SelectorOperator;
    if (!OPERATORS.includes(operator)) {
      throw new FieldError(
        `${at}.operator`,
        `must be one of ${OPERATORS.join(', ')}, got ${JSON.stringify(r.operator)}`,
      );
    }
    const values = listAt(r.values, `${at}.values`);
    if (values.some((x) => typeof x !== 'string')) throw new FieldError(`${at}.values`, 'must be strings');
    const needsValues = operator === 'In' || operator === 'NotIn';
    if (needsValues && values.length === 0) throw new FieldError(`${at}.values`, `must not be empty for ${operator}`);
    if (!needsValues && values.length > 0) throw new FieldError(`${at}.values`, `must be empty for ${operator}`);
    return { key: r.key, operator, values: values as string[] };
  });
  return { matchLabels, matchExpressions };
}

function parseIpBlock(v: unknown, field: string): IpBlock {
  const raw = objectAt(v, field);
  if (typeof raw.cidr !== 'string') throw new FieldError(`${field}.cidr`, 'is required (e.g. 10.0.0.0/16)');
  let cidr;
  try {
    cidr = parseCidr(raw.cidr);
  } catch (e) {
    throw new FieldError(`${field}.cidr`, (e as Error).message);
  }
  const except = listAt(raw.except, `${field}.except`).map((x, i) => {
    const at = `${field}.except[${i}]`;
    if (typeof x !== 'string') throw new FieldError(at, 'must be a CIDR string');
    let p;
    try {
      p = parseCidr(x);
    } catch (e) {
      throw new FieldError(at, (e as Error).message);
    }
    if (!containsPrefix(cidr, p) || p.len <= cidr.len) {
      throw new FieldError(at, `"${x}" must be a strict subset of cidr "${raw.cidr}"`);
    }
    return x;
  });
  return { cidr: raw.cidr, except };
}

export function parsePeer(v: unknown, field: string): PolicyPeer {
  const raw = objectAt(v, field);
  const peer: PolicyPeer = {};
  if (raw.podSelector !== undefined && raw.podSelector !== null)
    peer.podSelector = parseSelector(raw.podSelector, `${field}.podSelector`);
  if (raw.namespaceSelector !== undefined && raw.namespaceSelector !== null) {
    peer.namespaceSelector = parseSelector(raw.namespaceSelector, `${field}.namespaceSelector`);
  }
  if (raw.ipBlock !== undefined && raw.ipBlock !== null) {
    if (peer.podSelector || peer.namespaceSelector) {
      throw new FieldError(
        field,
        'ipBlock cannot be combined with podSelector or namespaceSelector (use separate peers)',
      );
    }
    peer.ipBlock = parseIpBlock(raw.ipBlock, `${field}.ipBlock`);
  }
  if (!peer.podSelector && !peer.namespaceSelector && !peer.ipBlock) {
    throw new FieldError(field, 'needs podSelector, namespaceSelector or ipBlock');
  }
  return peer;
}

const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
/** IANA service name, as Kubernetes validates container port names. */
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$/;

function portNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new FieldError(field, `must be a port number 1-65535, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function parsePort(v: unknown, field: string): PolicyPort {
  const raw = objectAt(v, field);
  const protocol = (raw.protocol ?? 'TCP') as Protocol;
  if (!PROTOCOLS.includes(protocol)) {
    throw new FieldError(`${field}.protocol`, `must be TCP, UDP or SCTP, got ${JSON.stringify(raw.protocol)}`);
  }
  const port: PolicyPort = { protocol };
  if (raw.port !== undefined && raw.port !== null) {
    if (typeof raw.port === 'string') {
      if (!PORT_NAME.test(raw.port)) {
        throw new FieldError(`${field}.port`, `"${raw.port}" is neither a port number nor a valid port name`);
      }
      port.port = raw.port;
    } else {
      port.port = portNumber(raw.port, `${field}.port`);
    }
  }
  if (raw.endPort !== undefined && raw.endPort !== null) {
    const end = portNumber(raw.endPort, `${field}.endPort`);
    if (typeof port.port !== 'number') throw new FieldError(`${field}.endPort`, 'needs a numeric port');
    if (end < port.port) throw new FieldError(`${field}.endPort`, `${end} is below port ${port.port}`);
    port.endPort = end;
  }
  return port;
}
