/**
 * The demo's output: step headers, aligned tables, indented blocks. Colour only on a terminal and
 * without NO_COLOR, so that logs and tests see plain text.
 */

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;

function paint(code: string, text: string): string {
  return useColor ? `\x1b[${code}m${text}\x1b[0m` : text;
}

export const style = {
  bold: (t: string) => paint('1', t),
  dim: (t: string) => paint('2', t),
  green: (t: string) => paint('32', t),
  red: (t: string) => paint('31', t),
  cyan: (t: string) => paint('36', t),
};

let muted = false;

/**
 * After Ctrl-C the steps still unwinding would only report what the interruption killed; from
 * then on only output printed with sayAlways appears.
 */
export function muteSteps(): void {
  muted = true;
}

export function say(text = ''): void {
  if (!muted) process.stdout.write(`${text}\n`);
}

export function sayAlways(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export type Printer = (text?: string) => void;

/** Prints every line of text with the given indent. */
export function block(
  text: string,
  indent = 4,
  paintLine: (t: string) => string = (t) => t,
  print: Printer = say,
): void {
  for (const line of text.replace(/\n+$/, '').split('\n'))
    print(line.trim() === '' ? '' : `${' '.repeat(indent)}${paintLine(line)}`);
}

export class Steps {
  private n = 0;

  constructor(private readonly total: number) {}

  next(title: string): void {
    this.n += 1;
    say();
    say(style.bold(style.cyan(`==> ${this.n}/${this.total}  ${title}`)));
  }
}

/** Rows under a header, each column as wide as its widest cell; trailing blanks trimmed. */
export function table(header: string[], rows: string[][], indent = 4): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const format = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  say(`${' '.repeat(indent)}${style.dim(format(header))}`);
  for (const r of rows) say(`${' '.repeat(indent)}${format(r)}`);
}

/** "ok" or "FAIL" in front of a line. */
export function verdict(ok: boolean, text: string, indent = 4): void {
  say(`${' '.repeat(indent)}${ok ? style.green('ok  ') : style.red('FAIL')}  ${text}`);
}

/** A shell command as a user would type it, for showing what the demo runs. */
export function shellWords(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A JSON annotation on one line; anything else as it is. */
export function compactJson(value: string): string {
  try {
    return JSON.stringify(JSON.parse(value));
  } catch {
    return value.trim();
  }
}
