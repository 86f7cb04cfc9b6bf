import { CniCode, CniError } from './errors.ts';

/**
 * Inputs Multus v4 accepts but NPWG (or braid, on purpose) would refuse: unknown element keys,
 * nulls, zero bandwidth rates, hostPort 0, 8/20-byte MACs, default-route on several elements,
 * dotted NAD names in clusterNetwork/defaultNetworks, an unknown logLevel, ips/mac on a network
 * no plugin declares the capability for, a resourceName without a device. By default braid does
 * what Multus does and records a warning (logged, and a Warning event on the pod); with the conf
 * key `strict: true` each one is an error (code 7) naming the field.
 */
export interface CompatWarning {
  /** The field, e.g. `k8s.v1.cni.cncf.io/networks element 0 "mac"`, `logLevel`. */
  field: string;
  /** What braid did about it. */
  action: string;
}

export interface Leniency {
  readonly strict: boolean;
  readonly warnings: CompatWarning[];
  /** Accepts the input (recording a warning) or, when strict, throws code 7 with `problem`. */
  accept(field: string, problem: string, action: string): void;
}

export function leniency(strict: boolean, warnings: CompatWarning[] = []): Leniency {
  return {
    strict,
    warnings,
    accept(field, problem, action) {
      if (strict) throw new CniError(CniCode.InvalidConfig, `${field}: ${problem} (refused: strict is true)`);
      if (!warnings.some((w) => w.field === field && w.action === action)) warnings.push({ field, action });
    },
  };
}

/** The Warning event's reason and message (one event per warning). */
export const COMPAT_EVENT_REASON = 'NonStandardInputAccepted';

export function warningText(w: CompatWarning): string {
  return `${w.field}: ${w.action} (as Multus does; set strict: true to refuse)`;
}
