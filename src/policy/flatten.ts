/**
 * Turns overlapping prefixes with "minus these sub-prefixes" into LPM entries whose longest match
 * gives, for any address, exactly the bits of the members that contain it.
 *
 * A member is one peer of one rule group: an ipBlock (cidr minus its excepts) or a pod address
 * (a /32 or /128 with no excepts). Every prefix that appears becomes a candidate key. Prefixes
 * are nested or disjoint, so all addresses whose longest match is key K share one answer: the
 * members whose include contains K and none of whose excludes contains K. A depth-first sweep
 * over the prefixes in address order computes that answer incrementally; keys whose answer
 * equals their parent's are left out (the parent answers for them). Because each member carries
 * its own excludes, `except` narrows only its own ipBlock: another member may still allow it.
 */

export interface BitPrefix {
  /** The prefix's bits, left-aligned in a `width`-bit number, host bits zero. */
  addr: bigint;
  len: number;
}

export interface Member {
  bit: number;
  include: BitPrefix;
  exclude: BitPrefix[];
}

export interface FlatEntry extends BitPrefix {
  bits: bigint;
}

interface Node extends BitPrefix {
  adds: number[];
  removes: number[];
}

interface Frame extends BitPrefix {
  bits: bigint;
  undo: (() => void)[];
}

function byAddressThenLength(a: Node, b: Node): number {
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  return a.len - b.len;
}

export function flatten(members: readonly Member[], width: number): FlatEntry[] {
  const nodes = new Map<string, Node>();
  const node = (p: BitPrefix): Node => {
    const key = `${p.len}/${p.addr}`;
    let n = nodes.get(key);
    if (!n) nodes.set(key, (n = { addr: p.addr, len: p.len, adds: [], removes: [] }));
    return n;
  };
  members.forEach((m, i) => {
    node(m.include).adds.push(i);
    for (const e of m.exclude) node(e).removes.push(i);
  });

  const inside = new Uint8Array(members.length);
  const excluded = new Uint32Array(members.length);
  const perBit = new Map<number, number>();
  let bits = 0n;
  const inc = (bit: number) => {
    const n = (perBit.get(bit) ?? 0) + 1;
    perBit.set(bit, n);
    if (n === 1) bits |= 1n << BigInt(bit);
  };
  const dec = (bit: number) => {
    const n = (perBit.get(bit) ?? 0) - 1;
    perBit.set(bit, n);
    if (n === 0) bits &= ~(1n << BigInt(bit));
  };
  const contains = (outer: BitPrefix, inner: BitPrefix) => {
    if (inner.len < outer.len) return false;
    const shift = BigInt(width - outer.len);
    return inner.addr >> shift === outer.addr >> shift;
  };

  const out: FlatEntry[] = [];
  const stack: Frame[] = [];
  for (const n of [...nodes.values()].sort(byAddressThenLength)) {
    while (stack.length > 0 && !contains(stack[stack.length - 1]!, n)) {
      const done = stack.pop()!;
      for (let i = done.undo.length - 1; i >= 0; i--) done.undo[i]!();
    }
    const parentBits = stack.length > 0 ? stack[stack.length - 1]!.bits : 0n;
    const undo: (() => void)[] = [];
    for (const i of n.adds) {
      const bit = members[i]!.bit;
      inside[i] = 1;
      if (excluded[i] === 0) inc(bit);
      undo.push(() => {
        inside[i] = 0;
        if (excluded[i] === 0) dec(bit);
      });
    }
    for (const i of n.removes) {
      if (!inside[i]) continue; // an except outside its cidr removes nothing (validation rejects it)
      const bit = members[i]!.bit;
      excluded[i] = excluded[i]! + 1;
      if (excluded[i] === 1) dec(bit);
      undo.push(() => {
        excluded[i] = excluded[i]! - 1;
        if (excluded[i] === 0) inc(bit);
      });
    }
    stack.push({ addr: n.addr, len: n.len, bits, undo });
    if (bits !== parentBits) out.push({ addr: n.addr, len: n.len, bits });
  }
  return out;
}

/** What the LPM lookup of `addr` (full width) would answer for these entries; for tests and show. */
export function lookupFlat(entries: readonly FlatEntry[], addr: bigint, width: number): bigint {
  let best: FlatEntry | undefined;
  for (const e of entries) {
    const shift = BigInt(width - e.len);
    if (addr >> shift === e.addr >> shift && (!best || e.len > best.len)) best = e;
  }
  return best?.bits ?? 0n;
}
