import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach } from 'vitest';
import { parseCniArgs } from '../../src/cni/args.ts';
import type { NetworkConfigList, PluginConf } from '../../src/cni/netconf.ts';
import type { DelegateContext } from '../../src/cni/list-context.ts';
import { type SpyPlugin, makeSpyPlugin } from './spy-plugin.ts';

/**
 * Shared by the tests of braid as the runtime of one delegate network (src/cni/runtime.ts): a
 * fresh temp dir per test for spy plugins and caches, a stderr sink, and builders for lists and
 * contexts. Importing it registers the per-test set-up and clean-up.
 */
export const runtimeBed = { dir: '', stderr: { stream: new PassThrough(), text: () => '' } };

function sink() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

export function netList(plugins: PluginConf[], over: Partial<NetworkConfigList> = {}): NetworkConfigList {
  const base = { cniVersion: '1.1.0', name: 'testnet', disableCheck: false, disableGC: false, plugins, ...over };
  return { ...base, bytes: JSON.stringify({ cniVersion: base.cniVersion, name: base.name, plugins }) };
}

export function context(over: Partial<DelegateContext> = {}): DelegateContext {
  return {
    containerId: 'c0ffee',
    netns: '/var/run/netns/fake',
    ifname: 'net1',
    args: parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0'),
    capabilityArgs: {},
    cniPath: [runtimeBed.dir],
    timeoutMs: 5000,
    versionCacheDir: join(runtimeBed.dir, 'versions'),
    label: 'net1',
    env: { PATH: process.env.PATH },
    stderr: runtimeBed.stderr.stream,
    ...over,
  };
}

export const spies = (...names: string[]): SpyPlugin[] => names.map((n) => makeSpyPlugin(runtimeBed.dir, n));
export const verbs = (s: SpyPlugin): string[] =>
  s
    .calls()
    .map((c) => c.command)
    .filter((c) => c !== 'VERSION');

export async function rejection(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: number; message: string };
  }
  throw new Error('expected a rejection');
}

export const RESULT_A = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'net1', mac: 'aa:bb:cc:dd:ee:01', sandbox: '/var/run/netns/fake', mtu: 1400 }],
  ips: [{ address: '10.99.1.2/24', gateway: '10.99.1.1', interface: 0 }],
  routes: [{ dst: '10.99.0.0/16', gw: '10.99.1.1', table: 100 }],
  dns: {},
};

beforeEach(() => {
  runtimeBed.dir = mkdtempSync(join(tmpdir(), 'braid-cni-runtime-'));
  runtimeBed.stderr = sink();
});
afterEach(() => rmSync(runtimeBed.dir, { recursive: true, force: true }));
