import { randomBytes, randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/exec.ts';
import { createPodman, parseIpAddrText, podmanUnavailable, type Podman } from '../helpers/podman.ts';
import { makeSpyPlugin, type SpyPlugin } from '../helpers/spy-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

// Proves the podman harness with Debian's own plugins before braid is put behind it: podman runs
// the plugins in its own network namespace, which is the machine's, so the bridge gets a unique name
// and is deleted after each test.

const unavailable = podmanUnavailable();

describe.skipIf(unavailable !== undefined)('podman with a plain bridge conflist', () => {
  let podman: Podman;
  let spy: SpyPlugin;
  let bridge: string | undefined;

  beforeAll(async () => {
    spy = makeSpyPlugin(makeTempDir('braid-spy'), 'spy');
    podman = createPodman([spy.dir, '/usr/lib/cni']);
    await podman.ensureImage();
  });

  afterEach(async () => {
    if (bridge) await runCommand(['ip', 'link', 'del', bridge]);
    bridge = undefined;
  });

  afterAll(async () => {
    await podman?.destroy();
    cleanupTemps();
  });

  /** A bridge + host-local conflist on a fresh bridge name and a random 10.213.x.0/24. */
  function bridgeNetwork(name: string): { dataDir: string; prefix: string } {
    bridge = `brt${randomBytes(4).toString('hex')}`;
    const prefix = `10.213.${randomInt(1, 250)}`;
    const dataDir = makeTempDir('braid-ipam');
    podman.writeConflist({
      cniVersion: '1.0.0',
      name,
      plugins: [
        { type: 'bridge', bridge, ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: `${prefix}.0/24` }]] } },
      ],
    });
    return { dataDir, prefix };
  }

  it('gives the container eth0 with an address of the subnet, on a bridge in the host namespace', async () => {
    const { prefix } = bridgeNetwork('braid-e2e-bridge');

    const run = await podman.run({ network: 'braid-e2e-bridge' });

    expect(run.code, run.stderr).toBe(0);
    const eth0 = parseIpAddrText(run.stdout).find((l) => l.ifname === 'eth0');
    expect(eth0?.addr_info).toContainEqual({ family: 'inet', local: `${prefix}.2`, prefixlen: 24 });
    const hostBridge = await runCommand(['ip', 'link', 'show', bridge!]);
    expect(hostBridge.code, `bridge ${bridge} in the host namespace`).toBe(0);
  });

  it('releases the address when the container is removed (podman called DEL)', async () => {
    const { dataDir } = bridgeNetwork('braid-e2e-release');

    const run = await podman.run({ network: 'braid-e2e-release', command: ['true'] });

    expect(run.code, run.stderr).toBe(0);
    const leases = readdirSync(join(dataDir, 'braid-e2e-release')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(leases).toEqual([]);
  });

  // What braid can rely on when podman is its runtime: the pod name only, no namespace, no UID and
  // no pod annotations, even when the conf declares the capability.
  it('sends CNI_ARGS with K8S_POD_NAME = the container name and nothing of Kubernetes else', async () => {
    spy.resetCalls();
    // podman parses the MAC of every interface in the result, so the spy's answer needs one.
    const result = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01' }], ips: [] };
    spy.setControl({ mode: 'result', result });
    podman.writeConflist({
      cniVersion: '1.0.0',
      name: 'braid-e2e-spy',
      plugins: [{ type: 'spy', capabilities: { 'io.kubernetes.cri.pod-annotations': true } }],
    });

    const run = await podman.run({ network: 'braid-e2e-spy', name: 'spied-pod', command: ['true'] });

    expect(run.code, run.stderr).toBe(0);
    const [add] = spy.callsOf('ADD');
    expect(add?.env).toMatchObject({ CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=spied-pod', CNI_IFNAME: 'eth0' });
    expect(add?.env.CNI_NETNS).toMatch(/^\/run\/netns\/netns-/);
    expect(add?.config).not.toHaveProperty('runtimeConfig');
    expect(spy.callsOf('DEL')).toHaveLength(1);
  });
});
