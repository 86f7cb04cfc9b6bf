import { describe, expect, it } from 'vitest';
import { formatCniArgs, ignoresUnknown, mergeCniArgs, parseCniArgs } from '../../../src/cni/args.ts';
import type { CniError } from '../../../src/base/errors.ts';

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return (e as CniError).code;
  }
  return undefined;
}

describe('N1 CNI_ARGS parsing', () => {
  it('reads the containerd form in order', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0')).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web-0'],
    ]);
  });

  it('treats an empty string as no args', () => {
    expect(parseCniArgs('')).toEqual([]);
  });

  it('keeps empty values, as Go does', () => {
    expect(parseCniArgs('K8S_POD_UID=')).toEqual([['K8S_POD_UID', '']]);
  });

  it('tolerates a trailing separator', () => {
    expect(parseCniArgs('A=1;')).toEqual([['A', '1']]);
  });

  it.each(['A', 'A=1=2', 'A=1;B', '=1'])('rejects %j with code 4 naming the pair', (raw) => {
    expect(codeOf(() => parseCniArgs(raw))).toBe(4);
    expect(() => parseCniArgs(raw)).toThrow(/CNI_ARGS: invalid pair/);
  });
});

describe('N1 CNI_ARGS formatting', () => {
  it('round-trips', () => {
    const raw = 'IgnoreUnknown=1;IP=10.95.0.50';
    expect(formatCniArgs(parseCniArgs(raw))).toBe(raw);
  });

  it('formats no pairs as the empty string', () => {
    expect(formatCniArgs([])).toBe('');
  });

  it.each([
    ['A;B', '1'],
    ['A', 'x=y'],
    ['', 'v'],
  ])('refuses %j=%j, which could not be parsed back', (k, v) => {
    expect(codeOf(() => formatCniArgs([[k, v]]))).toBe(4);
  });
});

describe('N2 IgnoreUnknown', () => {
  it.each(['1', 'true', 'TRUE', 'True'])('accepts %j', (v) => {
    expect(ignoresUnknown([['IgnoreUnknown', v]])).toBe(true);
  });
  it.each(['0', 'false', 'yes'])('does not accept %j', (v) => {
    expect(ignoresUnknown([['IgnoreUnknown', v]])).toBe(false);
  });
});

describe('N3 merging args for delegates', () => {
  it('passes the base unchanged when nothing is added', () => {
    const base: [string, string][] = [['K8S_POD_NAME', 'a']];
    expect(mergeCniArgs(base, [])).toEqual(base);
  });

  it('adds IgnoreUnknown=1 first when keys are added', () => {
    expect(mergeCniArgs([['K8S_POD_NAME', 'a']], [['IP', '10.1.0.5']])).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAME', 'a'],
      ['IP', '10.1.0.5'],
    ]);
  });

  it('overrides a key in place and drops its later duplicates', () => {
    expect(
      mergeCniArgs(
        [
          ['IgnoreUnknown', '1'],
          ['MAC', 'old'],
          ['X', '1'],
          ['MAC', 'older'],
        ],
        [['MAC', 'c2:11:22:33:44:55']],
      ),
    ).toEqual([
      ['IgnoreUnknown', '1'],
      ['MAC', 'c2:11:22:33:44:55'],
      ['X', '1'],
    ]);
  });

  it('later extra keys win over earlier extra keys', () => {
    expect(
      mergeCniArgs(
        [],
        [
          ['A', '1'],
          ['A', '2'],
        ],
      ),
    ).toEqual([
      ['IgnoreUnknown', '1'],
      ['A', '2'],
    ]);
  });

  it('keeps an IgnoreUnknown the runtime already sent', () => {
    const merged = mergeCniArgs([['IgnoreUnknown', 'true']], [['A', '1']]);
    expect(merged).toEqual([
      ['IgnoreUnknown', 'true'],
      ['A', '1'],
    ]);
  });

  it('turns IgnoreUnknown=0 on, since the added keys would otherwise be rejected', () => {
    expect(mergeCniArgs([['IgnoreUnknown', '0']], [['A', '1']])[0]).toEqual(['IgnoreUnknown', '1']);
  });

  it('does not mutate its inputs', () => {
    const base: [string, string][] = [['A', '1']];
    mergeCniArgs(base, [['A', '2']]);
    expect(base).toEqual([['A', '1']]);
  });
});
