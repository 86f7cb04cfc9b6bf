/**
 * A braid-veth test bed: the plugin bundled with esbuild into a temp dir, run (as a runtime
 * would) inside a throwaway "host" namespace with nsenter, so host veths, routes, sysctls and
 * tcx links stay out of the machine's own namespace. Pins go to a throwaway bpffs root, state
 * and host-local's files to temp dirs.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { withNetns } from '../../src/bpf/netns.ts';
import { queryTcx } from '../../src/bpf/tcx.ts';
import { NetlinkSocket } from '../../src/net/netlink-socket.ts';
import { findLink, type Link } from '../../src/net/links.ts';
import { pinDir } from '../../src/veth/datapath.ts';
import { EndpointMaps } from '../../src/veth/endpoint-map.ts';
import { hostVethName } from '../../src/veth/names.ts';
import { bpfObjectDir, buildBpfObjects, makePinRoot, repoRoot, type PinRoot } from '../bpf/env.ts';
import { createNetns, type Netns } from '../helpers/netns.ts';
import { runPlugin, type PluginRun } from '../helpers/run-plugin.ts';
import { makeTempDir } from '../helpers/tmp.ts';

export const NETWORK = 'braid-veth-t';
export const SUBNET4 = '10.77.0.0/24';
export const SUBNET6 = 'fd77::/64';
/** Addresses on the host namespace's loopback: what "a pod reaches the host" connects to. */
export const HOST_ADDR = { v4: '192.168.250.1', v6: 'fd00:250::1' };

let bundled: { dir: string; launcher: string } | undefined;

/** Bundles cmd/braid-veth.ts once per test file; koffi stays external (native), from the repo. */
export async function pluginBinary(): Promise<string> {
  if (bundled) return bundled.launcher;
  buildBpfObjects();
  const dir = mkdtempSync(join(tmpdir(), 'braid-t-vethbin-'));
  const requireFromRepo = createRequire(join(repoRoot, 'package.json'));
  await build({
    entryPoints: [join(repoRoot, 'cmd/braid-veth.ts')],
    outfile: join(dir, 'braid-veth.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'error',
    plugins: [
      {
        name: 'koffi-external',
        setup(b) {
          b.onResolve({ filter: /^koffi$/ }, (args) => ({
            path: pathToFileURL(requireFromRepo.resolve(args.path)).href,
            external: true,
          }));
        },
      },
    ],
  });
  const launcher = join(dir, 'braid-veth');
  writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${join(dir, 'braid-veth.mjs')} "$@"\n`);
  chmodSync(launcher, 0o755);
  bundled = { dir, launcher };
  return launcher;
}

/** Removes the bundle; for afterAll. */
export function removePluginBinary(): void {
  if (bundled) rmSync(bundled.dir, { recursive: true, force: true });
  bundled = undefined;
}

export interface Testbed {
  host: Netns;
  pins: PinRoot;
  stateDir: string;
  ipamDir: string;
  conf(extra?: Record<string, unknown>): Record<string, unknown>;
  run(
    command: string,
    opts: {
      pod?: Netns | string;
      containerId?: string;
      ifname?: string;
      conf?: Record<string, unknown>;
      env?: Record<string, string>;
    },
  ): Promise<PluginRun>;
  hostVeth(containerId: string, ifname?: string): string;
  hostLink(name: string): Link | undefined;
  /** Program ids attached with tcx on a host-namespace device. */
  tcx(ifindex: number): { ingress: number[]; egress: number[] };
  maps(): EndpointMaps;
  cleanup(): void;
}

export async function makeTestbed(): Promise<Testbed> {
  const bin = await pluginBinary();
  const host = await createNetns('braid-t-host');
  await host.ip(['link', 'set', 'lo', 'up']);
  await host.ip(['addr', 'add', `${HOST_ADDR.v4}/32`, 'dev', 'lo']);
  await host.ip(['addr', 'add', `${HOST_ADDR.v6}/128`, 'dev', 'lo']);
  const pins = makePinRoot();
  const stateDir = makeTempDir('braid-t-vethstate');
  const ipamDir = makeTempDir('braid-t-vethipam');
  const tb: Testbed = {
    host,
    pins,
    stateDir,
    ipamDir,
    conf: (extra = {}) => ({
      cniVersion: '1.1.0',
      name: NETWORK,
      type: 'braid-veth',
      bpfRoot: pins.path,
      stateDir,
      ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: SUBNET4 }], [{ subnet: SUBNET6 }]] },
      ...extra,
    }),
    run: (command, o) =>
      runPlugin(bin, {
        command,
        ...(o.containerId !== undefined ? { containerId: o.containerId } : {}),
        ...(o.pod !== undefined ? { netns: o.pod } : {}),
        ifname: o.ifname ?? 'eth0',
        hostNetns: host,
        stdin: o.conf ?? tb.conf(),
        extraEnv: { BRAID_BPF_DIR: bpfObjectDir, ...o.env },
      }),
    hostVeth: (containerId, ifname = 'eth0') => hostVethName('brv', containerId, ifname),
    hostLink: (name) => {
      const sock = NetlinkSocket.in(host.path);
      try {
        return findLink(sock, name);
      } finally {
        sock.close();
      }
    },
    tcx: (ifindex) =>
      withNetns(host.path, () => ({ ingress: queryTcx(ifindex, 'ingress'), egress: queryTcx(ifindex, 'egress') })),
    maps: () => EndpointMaps.open(pinDir(pins.path)),
    cleanup: () => pins.cleanup(),
  };
  return tb;
}

export async function createPod(): Promise<Netns> {
  return createNetns('braid-t-pod');
}
