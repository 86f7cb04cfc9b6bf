import type { Command } from 'commander';
import type { CniRequest } from '../cni/request.ts';
import { NadDirectory } from '../k8s/nad-directory.ts';
import { PodStore } from '../k8s/pod-store.ts';
import type { PodSource } from '../k8s/sources.ts';
import { ANNOTATION_NETWORKS, type PodInfo } from '../k8s/types.ts';
import { attachmentSteps, plannedForOrder } from '../multiplex/attachment-order.ts';
import { buildPlan } from '../multiplex/plan.ts';
import { warningText } from '../base/leniency.ts';
import type { Plan } from '../multiplex/plan-types.ts';
import { resolveInputs } from '../multiplex/resolve.ts';
import { loadConfFile } from './load-conf-file.ts';

interface ValidateOptions {
  conf: string;
  nadDir?: string;
  podDir?: string;
  annotation?: string;
  defaultNetwork?: string;
  pod: string;
  ifname: string;
  json?: boolean;
}

/** A pod that exists only for this validation, carrying the annotations given on the command line. */
function commandLinePod(namespace: string, name: string, annotations: Record<string, string>): PodSource {
  const pod: PodInfo = { namespace, name, labels: {}, annotations };
  return { kind: 'command line', getPod: async (ns, n) => (ns === namespace && n === name ? pod : undefined) };
}

function runtimeConfigFor(
  plugin: Record<string, unknown>,
  capabilityArgs: Record<string, unknown>,
): Record<string, unknown> {
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  return Object.fromEntries(Object.entries(capabilityArgs).filter(([k]) => caps[k] === true));
}

/** How the attachments run: in the listed order, or (parallelAttachments) in steps, some at once. */
function orderLines(plan: Plan, parallel: boolean): string[] {
  if (!parallel) return [];
  const order = attachmentSteps(true, plan.attachments.map(plannedForOrder));
  if (order.sequentialBecause) return [`parallelAttachments: one at a time, as ${order.sequentialBecause}`];
  const steps = order.steps.map((step) => step.map((i) => plan.attachments[i]!.ifname).join(' + '));
  return [`parallelAttachments: ${steps.join(', then ')} (+: at once; DEL in reverse)`];
}

export function formatPlan(plan: Plan, parallel = false): string {
  const lines: string[] = [];
  const pod = plan.pod ? `${plan.pod.namespace}/${plan.pod.name}` : '(no pod)';
  const order = parallel ? '' : ', run in this order (DEL in reverse)';
  lines.push(`pod ${pod}: ${plan.attachments.length} attachment(s)${order}`, ...orderLines(plan, parallel));
  for (const a of plan.attachments) {
    lines.push('');
    lines.push(
      `${a.index}. ${a.ifname}  ${a.network}${a.isDefault ? '  [cluster network, result returned to the runtime]' : ''}`,
    );
    lines.push(`   from:      ${a.origin}`);
    lines.push(`   cniVersion ${a.list.cniVersion}, delegate chain: ${a.list.plugins.map((p) => p.type).join(' -> ')}`);
    lines.push(`   CNI_ARGS:  ${a.cniArgs.map(([k, v]) => `${k}=${v}`).join(';') || '(none)'}`);
    a.list.plugins.forEach((p) => {
      const rc = runtimeConfigFor(p, a.capabilityArgs);
      if (Object.keys(rc).length > 0) lines.push(`   runtimeConfig for ${p.type}: ${JSON.stringify(rc)}`);
    });
    if (a.defaultRoute) lines.push(`   default route via ${a.defaultRoute.join(', ') || '(its own gateway)'}`);
    if (a.deviceId) lines.push(`   device ${a.deviceId}`);
  }
  return lines.join('\n');
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'check a braid conf, NAD manifests and a pod annotation, and print the plan without touching the kernel',
    )
    .requiredOption('-c, --conf <file>', 'braid conf (.conf or .conflist)')
    .option('--nad-dir <dir>', "directory of NetworkAttachmentDefinition manifests (default: the conf's nadDir)")
    .option('--pod-dir <dir>', "local pod store (default: the conf's podDir)")
    .option('-a, --annotation <value>', `value of ${ANNOTATION_NETWORKS} (comma or JSON form)`)
    .option('--default-network <value>', 'value of v1.multus-cni.io/default-network')
    .option('-p, --pod <ns/name>', 'the pod', 'default/validate')
    .option('-i, --ifname <name>', "the runtime's CNI_IFNAME", 'eth0')
    .option('--json', 'print the plan as JSON')
    .option('--explain', "print the plan (the default; kept for Multus users' muscle memory)")
    .action(async (opts: ValidateOptions) => {
      const { conf } = loadConfFile(opts.conf);
      if (opts.nadDir) conf.nadDir = opts.nadDir;
      if (opts.podDir) conf.podDir = opts.podDir;
      const [namespace = 'default', name = 'validate'] = opts.pod.split('/');
      const annotations: Record<string, string> = {};
      if (opts.annotation !== undefined) annotations[ANNOTATION_NETWORKS] = opts.annotation;
      if (opts.defaultNetwork !== undefined) annotations['v1.multus-cni.io/default-network'] = opts.defaultNetwork;
      const args: [string, string][] = [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', namespace],
        ['K8S_POD_NAME', name],
      ];
      const req: CniRequest = {
        command: 'ADD',
        containerId: 'braid-validate',
        netns: '',
        ifname: opts.ifname,
        argsRaw: args.map(([k, v]) => `${k}=${v}`).join(';'),
        args,
        path: [],
        stdin: '',
        config: {},
        cniVersion: conf.cniVersion,
        env: process.env,
      };
      // The command line's annotations stand in for the pod only when given; else the pod store answers.
      const pods: PodSource[] =
        Object.keys(annotations).length > 0 ? [commandLinePod(namespace, name, annotations)] : [];
      pods.push(new PodStore(conf.podDir));
      const plan = buildPlan(await resolveInputs(req, conf, { pods, nads: new NadDirectory(conf.nadDir) }));
      process.stdout.write(
        opts.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlan(plan, conf.parallelAttachments)}\n`,
      );
      // What braid accepts the way Multus does (an ADD logs these and records them as Warning events).
      if (!opts.json) for (const w of plan.warnings) process.stdout.write(`warning: ${warningText(w)}\n`);
    });
}
