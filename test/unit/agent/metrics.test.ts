import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from '../../../src/agent/limiter.ts';
import { Registry } from '../../../src/agent/metrics.ts';

describe('Prometheus registry', () => {
  it('writes counters, gauges and histograms in the text format', () => {
    const r = new Registry();
    const calls = r.counter('braid_calls_total', 'Calls.');
    calls.inc({ verb: 'ADD', code: '0' });
    calls.inc({ code: '0', verb: 'ADD' }, 2);
    r.gauge('braid_queue', 'Queued.', () => [[{}, 3]]);
    const h = r.histogram('braid_seconds', 'Latency.', [0.01, 0.1]);
    h.observe({ verb: 'DEL' }, 0.005);
    h.observe({ verb: 'DEL' }, 0.05);
    h.observe({ verb: 'DEL' }, 5);
    const text = r.render();
    expect(text).toContain('# TYPE braid_calls_total counter\nbraid_calls_total{verb="ADD",code="0"} 3\n');
    expect(text).toContain('# TYPE braid_queue gauge\nbraid_queue 3\n');
    expect(text).toContain('braid_seconds_bucket{verb="DEL",le="0.01"} 1\n');
    expect(text).toContain('braid_seconds_bucket{verb="DEL",le="0.1"} 2\n');
    expect(text).toContain('braid_seconds_bucket{verb="DEL",le="+Inf"} 3\n');
    expect(text).toContain('braid_seconds_count{verb="DEL"} 3\n');
    expect(text).toMatch(/braid_seconds_sum\{verb="DEL"\} 5\.05/);
  });

  it('escapes label values and survives a failing collector', () => {
    const r = new Registry();
    r.gauge('braid_bad', 'Throws.', () => {
      throw new Error('maps gone');
    });
    r.gauge('braid_label', 'Quoted.').set({ pod: 'a"b\\c\nd' }, 1);
    const text = r.render();
    expect(text).toContain('braid_label{pod="a\\"b\\\\c\\nd"} 1');
    expect(text).toContain('# TYPE braid_bad gauge');
    expect(() => r.counter('braid_label', 'again')).toThrow(/registered twice/);
  });
});

describe('ConcurrencyLimiter', () => {
  it('runs at most `limit` tasks at once and queues the rest in arrival order', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      running--;
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => limiter.run(task(i))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(limiter.peakQueued).toBe(4);
    expect(order.slice(2)).toEqual([2, 3, 4, 5]);
    expect(limiter.active).toBe(0);
  });

  it('skips a queued task that is no longer wanted and frees its slot', async () => {
    const limiter = new ConcurrencyLimiter(1);
    let release!: () => void;
    const first = limiter.run(() => new Promise<string>((r) => (release = () => r('first'))));
    let wanted = true;
    const second = limiter.run(
      async () => 'second',
      () => wanted,
    );
    const third = limiter.run(async () => 'third');
    wanted = false;
    release();
    expect(await Promise.all([first, second, third])).toEqual(['first', undefined, 'third']);
    expect(limiter.active).toBe(0);
  });

  it('keeps the slot count right when a task throws', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(async () => 'next')).toBe('next');
    expect(limiter.active).toBe(0);
    expect(() => new ConcurrencyLimiter(0)).toThrow(/positive integer/);
  });
});
