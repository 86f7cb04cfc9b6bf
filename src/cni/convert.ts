import { isIP } from 'node:net';
import { CniCode, CniError } from '../base/errors.ts';
import type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute } from './result.ts';
import { type ResultFamily, resultFamily } from './versions.ts';

/**
 * Results of every CNI version <-> braid's canonical (1.1.0-shaped) result. Mirrors the
 * conversions of `pkg/types/{020,040,100}`: 0.3.x/0.4.0 add `ips[].version` and know only
 * name/mac/sandbox of an interface; 0.1.0/0.2.0 hold one IPv4 and one IPv6 config (L1-L5).
 */

type Json = Record<string, unknown>;

function bad(path: string, why: string): never {
  throw new CniError(CniCode.DecodeFailure, `invalid CNI result: ${path} ${why}`);
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) bad(path, `must be a list, got ${JSON.stringify(v)}`);
  return v;
}

function object(v: unknown, path: string): Json {
  if (!isObject(v)) bad(path, `must be an object, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') bad(path, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function uint(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    bad(path, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function strings(v: unknown, path: string): string[] {
  return list(v, path).map((s, i) => str(s, `${path}[${i}]`));
}

/** Go's net.ParseCIDR accepts an address with its prefix length; host bits may be set. */
function cidr(v: unknown, path: string): string {
  const s = str(v, path);
  const slash = s.lastIndexOf('/');
  const family = slash > 0 ? isIP(s.slice(0, slash)) : 0;
  const prefix = s.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
    bad(path, `must be an address in CIDR notation (e.g. 10.1.0.5/24), got ${JSON.stringify(s)}`);
  }
  return s;
}

function ip(v: unknown, path: string): string {
  const s = str(v, path);
  if (isIP(s) === 0) bad(path, `must be an IP address, got ${JSON.stringify(s)}`);
  return s;
}

/** Copies the optional fields present in `raw`, each through its checker. */
type Checker = (v: unknown, p: string) => unknown;

function optional<T extends object>(raw: Json, path: string, fields: Record<string, Checker>, into: T): T {
  for (const [key, check] of Object.entries(fields)) {
    if (raw[key] !== undefined && raw[key] !== null) {
      (into as Json)[key] = check(raw[key], `${path}.${key}`);
    }
  }
  return into;
}

function parseDns(v: unknown): CniDns {
  const raw = object(v, 'dns');
  return optional(raw, 'dns', { nameservers: strings, domain: str, search: strings, options: strings }, {});
}

const ROUTE_EXTRAS: Record<string, Checker> = { mtu: uint, advmss: uint, priority: uint, table: uint, scope: uint };

function parseRoute(v: unknown, path: string, withExtras: boolean): CniRoute {
  const raw = object(v, path);
  const route: CniRoute = { dst: cidr(raw.dst, `${path}.dst`) };
  optional(raw, path, { gw: ip, ...(withExtras ? ROUTE_EXTRAS : {}) }, route);
  return route;
}

function parseInterface(v: unknown, path: string, family: ResultFamily): CniInterface {
  const raw = object(v, path);
  const iface: CniInterface = { name: str(raw.name, `${path}.name`) };
  const extras: Record<string, Checker> = family === '100' ? { mtu: uint, socketPath: str, pciID: str } : {};
  return optional(raw, path, { mac: str, sandbox: str, ...extras }, iface);
}

function parseModern(raw: Json, version: string, family: ResultFamily): CniResult {
  const result: CniResult = { cniVersion: version };
  if (raw.interfaces != null) {
    result.interfaces = list(raw.interfaces, 'interfaces').map((x, i) => parseInterface(x, `interfaces[${i}]`, family));
  }
  const ifaceCount = result.interfaces?.length ?? 0;
  if (raw.ips != null) {
    result.ips = list(raw.ips, 'ips').map((x, i): CniIpConfig => {
      const path = `ips[${i}]`;
      const e = object(x, path);
      const cfg: CniIpConfig = { address: cidr(e.address, `${path}.address`) };
      optional(e, path, { gateway: ip, interface: uint }, cfg);
      // K2: the index must name an interface of this same result.
      if (cfg.interface !== undefined && cfg.interface >= ifaceCount) {
        bad(`${path}.interface`, `is ${cfg.interface} but the result lists ${ifaceCount} interface(s)`);
      }
      return cfg;
    });
  }
  if (raw.routes != null) {
    result.routes = list(raw.routes, 'routes').map((x, i) => parseRoute(x, `routes[${i}]`, true));
  }
  if (raw.dns != null) result.dns = parseDns(raw.dns);
  return result;
}

function parseLegacy(raw: Json, version: string): CniResult {
  const result: CniResult = { cniVersion: version };
  const ips: CniIpConfig[] = [];
  const routes: CniRoute[] = [];
  for (const key of ['ip4', 'ip6'] as const) {
    if (raw[key] == null) continue;
    const cfg = object(raw[key], key);
    const entry: CniIpConfig = { address: cidr(cfg.ip, `${key}.ip`) };
    if (cfg.gateway != null) entry.gateway = ip(cfg.gateway, `${key}.gateway`);
    ips.push(entry);
    if (cfg.routes != null) {
      list(cfg.routes, `${key}.routes`).forEach((r, i) => routes.push(parseRoute(r, `${key}.routes[${i}]`, false)));
    }
  }
  if (ips.length > 0) result.ips = ips;
  if (routes.length > 0) result.routes = routes;
  if (raw.dns != null) result.dns = parseDns(raw.dns);
  return result;
}

/**
 * Reads a result of any version 0.1.0..1.1.0 into the canonical shape. A result without
 * `cniVersion` is read as `fallbackVersion`, the version of the config that produced it (K5).
 * The canonical result keeps the source version as its label.
 */
export function parseResult(obj: unknown, fallbackVersion: string): CniResult {
  if (!isObject(obj)) bad('(top level)', `must be a JSON object, got ${JSON.stringify(obj)?.slice(0, 80)}`);
  if (obj.cniVersion != null && typeof obj.cniVersion !== 'string') bad('cniVersion', 'must be a string');
  const version = (obj.cniVersion as string | undefined) || fallbackVersion;
  const family = resultFamily(version);
  return family === '020' ? parseLegacy(obj, version) : parseModern(obj, version, family);
}

const clone = <T>(v: T): T => structuredClone(v);

function ipFamily(address: string): '4' | '6' {
  return isIP(address.slice(0, address.lastIndexOf('/'))) === 4 ? '4' : '6';
}

function to040(r: CniResult, version: string): Json {
  const out: Json = { cniVersion: version };
  if (r.interfaces) {
    out.interfaces = r.interfaces.map((i) => {
      const o: Json = { name: i.name };
      if (i.mac !== undefined) o.mac = i.mac;
      if (i.sandbox !== undefined) o.sandbox = i.sandbox;
      return o;
    });
  }
  if (r.ips) out.ips = r.ips.map((c) => ({ version: ipFamily(c.address), ...clone(c) }));
  // 0.4.0 shares Go's Route type with 1.x, so the 1.1 route fields survive (L3).
  if (r.routes) out.routes = clone(r.routes);
  if (r.dns) out.dns = clone(r.dns);
  return out;
}

/** L5: first IPv4 and first IPv6 config only; routes go with their family's config. */
function to020(r: CniResult, version: string): Json {
  const out: Json = { cniVersion: version };
  const configs: Partial<Record<'4' | '6', Json>> = {};
  for (const c of r.ips ?? []) {
    const fam = ipFamily(c.address);
    if (configs[fam]) continue;
    configs[fam] = { ip: c.address, ...(c.gateway !== undefined ? { gateway: c.gateway } : {}) };
  }
  for (const route of r.routes ?? []) {
    const cfg = configs[ipFamily(route.dst)];
    if (!cfg) continue;
    const routes = (cfg.routes ??= []) as Json[];
    routes.push({ dst: route.dst, ...(route.gw !== undefined ? { gw: route.gw } : {}) });
  }
  if (!configs['4'] && !configs['6']) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `cannot convert: no valid IP addresses: a ${version} result needs at least one IP address and this result has none`,
    );
  }
  if (configs['4']) out.ip4 = configs['4'];
  if (configs['6']) out.ip6 = configs['6'];
  if (r.dns) out.dns = clone(r.dns);
  return out;
}

/** Writes a canonical result in the wire form of `version` (L1-L5); unknown versions are code 1. */
export function resultToVersion(r: CniResult, version: string): Record<string, unknown> {
  switch (resultFamily(version)) {
    case '100': {
      const out: Json = { cniVersion: version };
      for (const key of ['interfaces', 'ips', 'routes', 'dns'] as const) {
        if (r[key] !== undefined) out[key] = clone(r[key]);
      }
      return out;
    }
    case '040':
      return to040(r, version);
    case '020':
      return to020(r, version);
  }
}

/** Converts a result of any version to any other, through the canonical form. */
export function convertResult(obj: unknown, fallbackVersion: string, toVersion: string): Record<string, unknown> {
  return resultToVersion(parseResult(obj, fallbackVersion), toVersion);
}
