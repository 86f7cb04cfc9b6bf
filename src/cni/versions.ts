import { CniCode, CniError } from '../base/errors.ts';

/** The versions braid speaks as a plugin, oldest first. */
export const BRAID_SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** Every version braid can read a delegate's result in, oldest first. */
export const ALL_KNOWN_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export type ResultFamily = '020' | '040' | '100';

/** Result families of pkg/types: 0.1.0/0.2.0, 0.3.x/0.4.0 and 1.x. An empty version means 0.1.0. */
export function resultFamily(version: string | undefined): ResultFamily {
  const v = version || '0.1.0';
  if (v === '0.1.0' || v === '0.2.0') return '020';
  if (v === '0.3.0' || v === '0.3.1' || v === '0.4.0') return '040';
  if (v === '1.0.0' || v === '1.1.0') return '100';
  throw new CniError(CniCode.IncompatibleVersion, `unsupported CNI version "${v}"`);
}

export function isKnownVersion(v: string): boolean {
  return (ALL_KNOWN_VERSIONS as readonly string[]).includes(v);
}

/** Compares dotted versions numerically; returns <0, 0 or >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10));
  const pb = b.split('.').map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v || '0.1.0', min) >= 0;
}

/** A dotted version string as CNI uses them: three numeric parts. */
export function isVersionString(v: unknown): v is string {
  return typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v);
}
