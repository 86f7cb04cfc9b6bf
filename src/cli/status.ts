import type { Command } from 'commander';
import { listCache } from '../cache/attachment-cache.ts';
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
  const header: StatusRow = { pod: 'POD', container: 'CONTAINER', iface: 'IFACE', network: 'NETWORK', addresses: 'ADDRESSES', state: 'STATE' };
  const all = [header, ...rows];
  const keys = Object.keys(header) as (keyof StatusRow)[];
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  return all.map((r) => keys.map((k, i) => r[k].padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list the attachments braid set up on this node, from its cache')
    .option('-c, --conf <file>', 'braid conf, for its cniDir', PATHS.braidConf)
    .option('--cache-dir <dir>', 'read this cache directory instead of the conf\'s cniDir')
    .option('--json', 'print the cache records as JSON')
    .action((opts: { conf: string; cacheDir?: string; json?: boolean }) => {
      const dir = opts.cacheDir ?? loadConfFile(opts.conf).conf.cniDir;
      const entries = listCache(dir);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(entries.map((e) => (e.read.status === 'ok' ? e.read.record : { file: e.file, ...e.read })), null, 2)}\n`);
        return;
      }
      const rows: StatusRow[] = [];
      for (const { file, read } of entries) {
        if (read.status !== 'ok') {
          rows.push({ pod: '?', container: file, iface: '-', network: '-', addresses: read.status === 'corrupt' ? read.reason : '', state: 'unreadable' });
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
      process.stdout.write(rows.length ? `${pad(rows)}\n` : `no attachments in ${dir}\n`);
    });
}
