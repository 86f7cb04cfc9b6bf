import path from 'node:path';
import type { Cleanup } from './cleanup.ts';
import type { DemoNetns } from './netns.ts';
import type { Steps } from './print.ts';
import type { RuntimeSetup, Sandbox } from './runtime.ts';
import type { DemoPod } from './scenario.ts';
import type { Workspace } from './workspace.ts';

export interface PodUnderTest {
  pod: DemoPod;
  sandbox: Sandbox;
}

/** What the demo knows before step 1 sets up the node. */
export interface DemoBase {
  keep: boolean;
  steps: Steps;
  cleanup: Cleanup;
  /** `braid-demo-<8 hex digits>`: the start of every namespace and of the temp dir's name. */
  prefix: string;
  checkout: string;
  braidBin: string;
}

/** Everything the demo's steps share. */
export interface DemoContext extends DemoBase {
  ws: Workspace;
  node: DemoNetns;
  pods: PodUnderTest[];
  runtime: RuntimeSetup;
  /** Problems found on the way; the demo fails at the end when there is any. */
  problems: string[];
  tally: {
    interfaces: number;
    trafficPassed: number;
    trafficTotal: number;
    policyPassed: number;
    policyTotal: number;
    leftoversChecked: boolean;
  };
}

export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

export function findPod(ctx: DemoContext, name: string): PodUnderTest {
  const found = ctx.pods.find((p) => p.pod.name === name);
  if (!found) throw new Error(`the demo has no pod named ${name}`);
  return found;
}

/** A path as short as it can be shown: relative to the working directory when inside it. */
export function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}
