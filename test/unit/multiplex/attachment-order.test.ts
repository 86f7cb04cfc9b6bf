import { describe, expect, it } from 'vitest';
import { attachmentSteps, reversedSteps, type OrderedAttachment } from '../../../src/multiplex/attachment-order.ts';
import { runSteps } from '../../../src/multiplex/run-steps.ts';
import { formatPlan } from '../../../src/cli/validate.ts';
import { parseNetworkConfig } from '../../../src/cni/conflist.ts';
import type { NetworkSelectionElement } from '../../../src/k8s/types.ts';
import { buildPlan } from '../../../src/multiplex/plan.ts';

const att = (network: string, extra: Partial<OrderedAttachment> = {}): OrderedAttachment => ({
  network,
  ifname: network,
  isDefault: false,
  types: ['macvlan'],
  ...extra,
});
const cluster = att('cluster', { isDefault: true, types: ['bridge'] });

describe('attachmentSteps', () => {
  it('runs one at a time in declared order without parallelAttachments', () => {
    expect(attachmentSteps(false, [cluster, att('a'), att('b')])).toEqual({ steps: [[0], [1], [2]] });
  });

  it('runs the cluster network alone first, the additional networks at once, the auxiliary chain alone last', () => {
    const aux = att('aux', { auxiliary: true, types: ['passthru', 'tuning'] });
    const order = attachmentSteps(true, [cluster, att('a'), att('b'), att('c'), aux]);
    expect(order).toEqual({ steps: [[0], [1, 2, 3], [4]] });
    expect(reversedSteps(order.steps)).toEqual([[4], [3, 2, 1], [0]]);
  });

  it('falls back to one at a time when a plugin changes state of the whole pod namespace, and says which', () => {
    const order = attachmentSteps(true, [cluster, att('a'), att('b', { types: ['macvlan', 'sbr'] })]);
    expect(order.steps).toEqual([[0], [1], [2]]);
    expect(order.sequentialBecause).toContain('network b (b) uses plugin sbr');
  });
});

describe('runSteps', () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it('overlaps the positions of a step up to the limit, and never runs two steps at once', async () => {
    let running = 0;
    let peak = 0;
    const seen: string[] = [];
    await runSteps(
      [[0], [1, 2, 3, 4, 5], [6]],
      3,
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        seen.push(`start ${i}`);
        await tick();
        await tick();
        seen.push(`end ${i}`);
        running--;
      },
      { stopOnFailure: false },
    );
    expect(peak).toBe(3);
    expect(seen.slice(0, 2)).toEqual(['start 0', 'end 0']);
    expect(seen.slice(-2)).toEqual(['start 6', 'end 6']);
  });

  it('with stopOnFailure starts nothing after a failure, awaits what runs, and reports failures in declared order', async () => {
    const finished: number[] = [];
    const outcome = await runSteps(
      [[0], [1, 2, 3, 4], [5]],
      2,
      async (i) => {
        // 2 fails at once, 1 fails later: the report still puts 1 first.
        if (i === 2) throw new Error('two');
        await tick();
        if (i === 1) throw new Error('one');
        finished.push(i);
      },
      { stopOnFailure: true },
    );
    expect(outcome.started).toEqual([0, 1, 2]);
    expect(outcome.failures.map((f) => [f.position, (f.error as Error).message])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(finished).toEqual([0]);
  });
});

describe('braid validate with parallelAttachments', () => {
  const net = (name: string, plugins: Record<string, unknown>[], selection?: NetworkSelectionElement) => {
    const list = parseNetworkConfig(JSON.stringify({ cniVersion: '1.0.0', name, plugins }), `test ${name}`);
    return {
      network: selection ? `default/${name}` : name,
      list,
      origin: `test ${name}`,
      ...(selection ? { selection } : {}),
    };
  };
  const plan = (second: Record<string, unknown>[]) =>
    buildPlan({
      containerId: 'c1',
      netns: '/run/netns/x',
      ifname: 'eth0',
      args: [],
      runtimeConfig: {},
      cluster: net('cluster', [{ type: 'bridge' }]),
      defaultNetworks: [],
      selected: [net('a', [{ type: 'macvlan' }], { name: 'a' }), net('b', second, { name: 'b' })],
    });

  it('prints the steps, or why the pod runs one at a time; without the key, the plain order', () => {
    expect(
      formatPlan(plan([{ type: 'macvlan' }]), true)
        .split('\n')
        .slice(0, 2),
    ).toEqual([
      'pod (no pod): 3 attachment(s)',
      'parallelAttachments: eth0, then net1 + net2 (+: at once; DEL in reverse)',
    ]);
    expect(formatPlan(plan([{ type: 'macvlan' }, { type: 'vrf' }]), true).split('\n')[1]).toMatch(
      /^parallelAttachments: one at a time, as network default\/b \(net2\) uses plugin vrf, which /,
    );
    expect(
      formatPlan(plan([{ type: 'macvlan' }]))
        .split('\n')
        .slice(0, 2),
    ).toEqual(['pod (no pod): 3 attachment(s), run in this order (DEL in reverse)', '']);
  });
});
