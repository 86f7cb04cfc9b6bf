import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyRuntimeOptions, ReconcileReport } from '../../../src/policy/runtime.ts';
import { LocalStoreWatch } from '../../../src/policy/store-watch.ts';
import { cleanupTemps, makeTempDir } from '../../helpers/tmp.ts';

const EMPTY: ReconcileReport = { interfaces: 0, changed: 0, written: 0, deleted: 0, errors: [] };

/** Waits for `cond`, polling; a generous bound (a busy machine is slow, not wrong). */
async function eventually(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not after 10 s`);
}

describe('LocalStoreWatch', () => {
  let watcher: LocalStoreWatch | undefined;
  afterEach(() => {
    watcher?.stop();
    watcher = undefined;
    cleanupTemps();
  });

  const start = (reconcile: (o: PolicyRuntimeOptions) => ReconcileReport, reconcileOnStatus?: boolean) => {
    const root = makeTempDir('braid-t-watch');
    // The stores do not exist yet: the watcher makes them.
    const opts: PolicyRuntimeOptions = {
      bpfRoot: join(root, 'bpf'),
      policyDir: join(root, 'policies'),
      podDir: join(root, 'pods'),
      cacheDir: join(root, 'cache'),
    };
    const triggers: string[] = [];
    const logs: string[] = [];
    watcher = new LocalStoreWatch(opts, {
      debounceMs: 100,
      periodMs: 0,
      log: (l) => logs.push(l),
      reconcile,
      onReconcile: (_r, t) => triggers.push(t),
      ...(reconcileOnStatus === undefined ? {} : { reconcileOnStatus }),
    });
    watcher.start();
    return { opts, triggers, logs };
  };

  it('reconciles at start, then once per burst of changes in either store, new namespace directories included', async () => {
    const { opts, triggers } = start(() => EMPTY);
    expect(triggers).toEqual(['start']);
    mkdirSync(join(opts.podDir, 'team-a', '.status'), { recursive: true });
    await new Promise((r) => setTimeout(r, 300));
    const before = triggers.length;
    for (let i = 0; i < 10; i++) writeFileSync(join(opts.podDir, 'team-a', `p${i}.yaml`), `metadata: {name: p${i}}\n`);
    await eventually('a pod store change', () => triggers.length > before);
    await new Promise((r) => setTimeout(r, 300));
    // Ten files, twenty-odd events: far fewer reconciles (one unless the machine stalls mid-burst).
    expect(triggers.length - before).toBeLessThan(10);
    expect(triggers.at(-1)).toMatch(/^pod store/);
    writeFileSync(join(opts.podDir, 'team-a', '.status', 'p1.json'), '[]');
    const n = triggers.length;
    await eventually('a status change in a directory made after start', () => triggers.length > n);
    mkdirSync(join(opts.policyDir, '_namespaces'), { recursive: true });
    writeFileSync(join(opts.policyDir, '_namespaces', 'team-a.json'), '{}');
    await eventually('a policy store change', () => triggers.at(-1)!.startsWith('policy store'));
  });

  it("as braid-agent runs it, ignores network-status writes (its ADD and DEL apply them) but not the pods' manifests", async () => {
    const { opts, triggers } = start(() => EMPTY, false);
    mkdirSync(join(opts.podDir, 'team-a', '.status'), { recursive: true });
    await new Promise((r) => setTimeout(r, 300));
    const before = triggers.length;
    for (let i = 0; i < 5; i++) writeFileSync(join(opts.podDir, 'team-a', '.status', `p${i}.json`), '[]');
    await new Promise((r) => setTimeout(r, 600));
    expect(triggers.length, `status writes reconciled: ${triggers.slice(before).join(', ')}`).toBe(before);
    writeFileSync(join(opts.podDir, 'team-a', 'p1.yaml'), 'metadata: {name: p1, labels: {app: db}}\n');
    await eventually('a pod manifest change', () => triggers.length > before);
    expect(triggers.at(-1)).toBe('pod store: team-a/p1.yaml');
  });

  it('logs a failing reconcile and tries again at the next change; nothing after stop', async () => {
    let fail = true;
    let runs = 0;
    const { opts, triggers, logs } = start(() => {
      runs++;
      if (fail) throw new Error('spec.podSelector: must be a map, got 5');
      return EMPTY;
    });
    expect(logs).toEqual(['policy: reconcile after start failed: spec.podSelector: must be a map, got 5']);
    fail = false;
    writeFileSync(join(opts.policyDir, 'fixed.yaml'), 'kind: Namespace\n');
    await eventually('the next change reconciles', () => triggers.length === 1);
    watcher!.stop();
    const seen = runs;
    writeFileSync(join(opts.policyDir, 'later.yaml'), 'kind: Namespace\n');
    await new Promise((r) => setTimeout(r, 400));
    expect(runs).toBe(seen);
  });
});
