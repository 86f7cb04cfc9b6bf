import type { ErrorObject } from 'ajv';

/** Human wording for the patterns used in schemas/, keyed by the pattern text. */
const PATTERN_WORDING: Record<string, string> = {
  '\\S': 'must not be empty',
  '^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$':
    'must be a DNS-1123 label (at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit)',
  '^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$':
    'must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".", at most 253 characters)',
  '^[a-z0-9, -]*$': 'must be a comma-separated list of namespaces',
};

const MAX_PROBLEMS = 5;

/** JSON pointer "/delegates/0/type" -> `delegates[0].type`; keys that are not identifiers are bracketed. */
export function keyPath(pointer: string, extra?: string): string {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  if (extra !== undefined) segments.push(extra);
  let out = '';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) out += `[${segment}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function valueAt(data: unknown, pointer: string): unknown {
  if (pointer === '') return data;
  let cur: unknown = data;
  for (const segment of pointer.slice(1).split('/').map(unescapePointer)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[segment];
  }
  return cur;
}

/** A short rendering of the offending value, for "(got ...)". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function article(type: string): string {
  const word =
    type === 'integer' ? 'an integer' : type === 'object' ? 'an object' : type === 'array' ? 'a list' : `a ${type}`;
  return word;
}

function problemOf(err: ErrorObject, data: unknown, group: ErrorObject[]): string {
  const where = (extra?: string) => {
    const path = keyPath(err.instancePath, extra);
    return path === '' ? 'the top level' : `"${path}"`;
  };
  const got = `(got ${describeValue(valueAt(data, err.instancePath))})`;
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return `${where(String(p.missingProperty))} is required`;
    case 'additionalProperties':
      return `${where(String(p.additionalProperty))} is not a known key`;
    case 'dependencies':
      return `${where(String(p.property))} needs ${where(String(p.missingProperty))} as well`;
    case 'type':
      return `${where()} must be ${String(p.type).split(',').map(article).join(' or ')} ${got}`;
    case 'enum':
      return `${where()} must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')} ${got}`;
    case 'const':
      return `${where()} must be ${describeValue(p.allowedValue)} ${got}`;
    case 'pattern': {
      const wording = PATTERN_WORDING[String(p.pattern)] ?? `must match ${String(p.pattern)}`;
      return `${where()} ${wording} ${got}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${where()} must be ${String(p.comparison)} ${String(p.limit)} ${got}`;
    case 'anyOf': {
      if (group.length > 0 && group.every((e) => e.keyword === 'required')) {
        const keys = group.map((e) => `"${String((e.params as Record<string, unknown>).missingProperty)}"`);
        return `${where()} needs one of ${keys.join(', ')}`;
      }
      if (group.length > 0 && group.every((e) => e.keyword === 'type' && e.instancePath === err.instancePath)) {
        const types = group.map((e) => article(String((e.params as Record<string, unknown>).type)));
        return `${where()} must be ${types.join(' or ')} ${got}`;
      }
      // The branch whose error lies deepest is the one whose shape the value had.
      const deepest = [...group].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
      return deepest ? problemOf(deepest, data, []) : `${where()} has no allowed form ${got}`;
    }
    default:
      return `${where()} ${err.message ?? `fails ${err.keyword}`} ${got}`;
  }
}

/**
 * Every problem ajv found, one phrase each, with the key path and the offending value. Errors
 * inside an anyOf are folded into the anyOf's own phrase.
 */
export function schemaProblems(errors: readonly ErrorObject[] | null | undefined, data: unknown): string[] {
  const all = errors ?? [];
  const anyOfs = all.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const inside = (e: ErrorObject) => anyOfs.some((a) => a !== e && e.schemaPath.startsWith(`${a.schemaPath}/`));
  const problems: string[] = [];
  for (const err of all) {
    if (inside(err)) continue;
    const group = all.filter((e) => e !== err && e.schemaPath.startsWith(`${err.schemaPath}/`));
    const text = problemOf(err, data, err.keyword === 'anyOf' || err.keyword === 'oneOf' ? group : []);
    if (!problems.includes(text)) problems.push(text);
  }
  return problems;
}

/** One message naming every problem (up to a few), e.g. `braid conf: "logLevel" must be one of ... (got "loud")`. */
export function schemaErrorMessage(
  subject: string,
  errors: readonly ErrorObject[] | null | undefined,
  data: unknown,
): string {
  const problems = schemaProblems(errors, data);
  if (problems.length === 0) return `${subject}: does not match its schema`;
  const shown = problems.slice(0, MAX_PROBLEMS).join('; ');
  const more = problems.length > MAX_PROBLEMS ? ` (and ${problems.length - MAX_PROBLEMS} more problems)` : '';
  return `${subject}: ${shown}${more}`;
}
