/**
 * A small Prometheus registry: counters, gauges and histograms with labels, written in the text
 * exposition format (version 0.0.4). Gauges can be computed at scrape time from a callback, so
 * values that live elsewhere (map fill levels, cache sizes) are read only when someone asks.
 */

export type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(out: string[]): void;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A counter incremented directly, or read by `collect` at scrape time from a count kept elsewhere. */
export class Counter implements Family {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect?: () => Iterable<[Labels, number]>,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  render(out: string[]): void {
    renderRows(this.name, this.collect ? this.collect() : this.values.values(), out);
  }
}

function renderRows(
  name: string,
  rows: Iterable<[Labels, number] | { labels: Labels; value: number }>,
  out: string[],
): void {
  for (const row of rows) {
    const [labels, value] = Array.isArray(row) ? row : [row.labels, row.value];
    out.push(`${name}${labelText(labels)} ${number(value)}`);
  }
}

/** A gauge set directly, or computed by `collect` at scrape time. */
export class Gauge implements Family {
  readonly type = 'gauge';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect?: () => Iterable<[Labels, number]>,
  ) {}

  set(labels: Labels, value: number): void {
    this.values.set(keyOf(labels), { labels: { ...labels }, value });
  }

  get(labels: Labels = {}): number | undefined {
    return this.values.get(keyOf(labels))?.value;
  }

  render(out: string[]): void {
    renderRows(this.name, this.collect ? this.collect() : this.values.values(), out);
  }
}

/** Latency buckets in seconds: a plugin call spans a few milliseconds to tens of seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Histogram implements Family {
  readonly type = 'histogram';
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {}

  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  count(labels: Labels = {}): number {
    return this.series.get(keyOf(labels))?.count ?? 0;
  }

  render(out: string[]): void {
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) =>
        out.push(`${this.name}_bucket${labelText(s.labels, ['le', number(le)])} ${s.counts[i]}`),
      );
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${number(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
}

export class Registry {
  private readonly families: Family[] = [];

  counter(name: string, help: string, collect?: () => Iterable<[Labels, number]>): Counter {
    return this.add(new Counter(name, help, collect));
  }

  gauge(name: string, help: string, collect?: () => Iterable<[Labels, number]>): Gauge {
    return this.add(new Gauge(name, help, collect));
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  /** The exposition text. A collector that throws costs only its own family's samples. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      const rows: string[] = [];
      try {
        f.render(rows);
      } catch {
        continue;
      }
      out.push(...rows);
    }
    return `${out.join('\n')}\n`;
  }

  private add<T extends Family>(f: T): T {
    if (this.families.some((g) => g.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
    return f;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
