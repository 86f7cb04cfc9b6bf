import type { Command } from 'commander';
import { CONF_DEFAULTS } from '../config/conf.ts';
import { listCache } from '../cache/attachment-cache.ts';
import { listMultusContainers, readMultusContainer } from '../multiplex/multus-cache.ts';
import { loadConfFile } from './load-conf-file.ts';
import { PATHS } from '../base/defaults.ts';

interface StatusRow {
  pod: string;
  container: string;
  iface: string;
  network: string;
  addresses: string;
  state: string;
}

function pad(rows: StatusRow[]): string {
  const header: StatusRow = {
    pod: 'POD',
    container: 'CONTAINER',
    iface: 'IFACE',
    network: 'NETWORK',
    addresses: 'ADDRESSES',
    state: 'STATE',
  };
  const all = [header, ...rows];
  const keys = Object.keys(header) as (keyof StatusRow)[];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  return all
    .map((r) =>
      keys
        .map((k, i) => r[k].padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list the attachments braid set up on this node, from its cache')
    .option('-c, --conf <file>', 'braid conf, for its cniDir', PATHS.braidConf)
    .option('--cache-dir <dir>', "read this cache directory instead of the conf's cniDir")
    .option('--json', 'print the cache records as JSON')
    .option('--multus-cni-dir <dir>', "Multus' cniDir, whose pods braid takes over (default: the conf's multusCniDir)")
    .action((opts: { conf: string; cacheDir?: string; json?: boolean; multusCniDir?: string }) => {
      const dir = opts.cacheDir ?? loadConfFile(opts.conf).conf.cniDir;
      const multusDir =
        opts.multusCniDir ?? (opts.cacheDir ? CONF_DEFAULTS.multusCniDir : loadConfFile(opts.conf).conf.multusCniDir);
      const entries = listCache(dir);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(
            entries.map((e) => (e.read.status === 'ok' ? e.read.record : { file: e.file, ...e.read })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      const rows: StatusRow[] = [];
      for (const { file, read } of entries) {
        if (read.status !== 'ok') {
          rows.push({
            pod: '?',
            container: file,
            iface: '-',
            network: '-',
            addresses: read.status === 'corrupt' ? read.reason : '',
            state: 'unreadable',
          });
          continue;
        }
        const rec = read.record;
        for (const a of rec.attachments) {
          rows.push({
            pod: rec.pod ? `${rec.pod.namespace}/${rec.pod.name}` : '-',
            container: rec.containerId.slice(0, 12),
            iface: a.ifname,
            network: a.network,
            addresses: (a.result?.ips ?? []).map((ip) => ip.address).join(',') || '-',
            state: rec.state === 'added' ? 'ready' : a.state,
          });
        }
      }
      // Pods Multus set up before the node switched: braid DELs and GCs them from Multus' cache.
      for (const id of listMultusContainers(multusDir)) {
        for (const a of readMultusContainer(multusDir, id, 'eth0', [])?.attachments ?? []) {
          const arg = (k: string) => a.cniArgs.find(([key]) => key === k)?.[1];
          rows.push({
            pod: arg('K8S_POD_NAME') ? `${arg('K8S_POD_NAMESPACE') ?? 'default'}/${arg('K8S_POD_NAME')}` : '-',
            container: id.slice(0, 12),
            iface: a.ifname,
            network: a.network,
            addresses: (a.result?.ips ?? []).map((ip) => ip.address).join(',') || '-',
            state: 'multus',
          });
        }
      }
      process.stdout.write(rows.length ? `${pad(rows)}\n` : `no attachments in ${dir}\n`);
    });
}
