import { CniCode, CniError } from '../base/errors.ts';

/**
 * CNI_ARGS handling (CONVENTIONS.md, `pkg/types/args.go`): `K=V;K2=V2`, split on ";" then "=".
 * Values cannot contain "=" or ";" because the Go parser splits on them.
 */

/** N1: parses CNI_ARGS into ordered pairs. Empty segments (a trailing ";") are tolerated. */
export function parseCniArgs(raw: string): [string, string][] {
  if (raw === '') return [];
  const pairs: [string, string][] = [];
  for (const segment of raw.split(';')) {
    if (segment === '') continue;
    const kv = segment.split('=');
    if (kv.length !== 2 || kv[0] === '') {
      throw new CniError(
        CniCode.InvalidEnv,
        `CNI_ARGS: invalid pair ${JSON.stringify(segment)}: expected KEY=VALUE (values cannot contain "=" or ";")`,
      );
    }
    pairs.push([kv[0] as string, kv[1] as string]);
  }
  return pairs;
}

/** Inverse of parseCniArgs; refuses keys or values the receiving side could not split back. */
export function formatCniArgs(pairs: readonly (readonly [string, string])[]): string {
  return pairs
    .map(([k, v]) => {
      if (k === '' || /[;=]/.test(k) || /[;=]/.test(v)) {
        throw new CniError(
          CniCode.InvalidEnv,
          `CNI_ARGS: cannot pass ${JSON.stringify(k)}=${JSON.stringify(v)}: keys must be non-empty and neither key nor value may contain "=" or ";"`,
        );
      }
      return `${k}=${v}`;
    })
    .join(';');
}

/** `IgnoreUnknown` as Go reads it: "1" or "true" in any case. */
export function ignoresUnknown(pairs: readonly (readonly [string, string])[]): boolean {
  return pairs.some(([k, v]) => k === 'IgnoreUnknown' && /^(1|true)$/i.test(v));
}

/**
 * N3: overlays `extra` on `base`. A key already in base keeps its position and takes the new value;
 * new keys are appended. Whenever keys are added, `IgnoreUnknown=1` is ensured, because delegates
 * built on Go's args parser reject keys they do not know otherwise (host-local: code 999).
 */
export function mergeCniArgs(
  base: readonly (readonly [string, string])[],
  extra: readonly (readonly [string, string])[],
): [string, string][] {
  const merged: [string, string][] = base.map(([k, v]) => [k, v]);
  for (const [k, v] of extra) {
    const at = merged.findIndex(([mk]) => mk === k);
    if (at < 0) {
      merged.push([k, v]);
      continue;
    }
    merged[at] = [k, v];
    // A repeated key in base would shadow the override for parsers where the last pair wins.
    for (let i = merged.length - 1; i > at; i--) if (merged[i]?.[0] === k) merged.splice(i, 1);
  }
  if (extra.length > 0 && !ignoresUnknown(merged)) {
    const at = merged.findIndex(([k]) => k === 'IgnoreUnknown');
    if (at >= 0) merged[at] = ['IgnoreUnknown', '1'];
    else merged.unshift(['IgnoreUnknown', '1']);
  }
  return merged;
}
