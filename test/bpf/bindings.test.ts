import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { u32 } from '../../src/bpf/codec.ts';
import { BPF_NOEXIST, BpfMap, PerCpuMap } from '../../src/bpf/maps.ts';
import { BpfLoadError, BpfObject } from '../../src/bpf/object.ts';
import { closeFd, openPinned, unpin } from '../../src/bpf/pins.ts';
import { attachTc, detachTc, queryTc } from '../../src/bpf/tc.ts';
import { attachTcx, attachTcxPinned, detachTcxPinned, pinnedLinkInfo, progInfo, queryTcx } from '../../src/bpf/tcx.ts';
import { withNetns } from '../../src/bpf/netns.ts';
import { SyscallError } from '../../src/net/errno.ts';
import { createVethPair, findLink, listLinks } from '../../src/net/links.ts';
import { NetlinkSocket } from '../../src/net/netlink-socket.ts';
import { endpointCodec, endpointKeyCodec, statsCodec, zeroStats } from '../../src/veth/endpoint-map.ts';
import {
  addNetns,
  bpfObjectDir,
  buildBpfObjects,
  delNetns,
  isRoot,
  makePinRoot,
  repoRoot,
  type PinRoot,
} from './env.ts';

const object = () => join(bpfObjectDir, 'veth.o');

describe.skipIf(!isRoot)('libbpf bindings', () => {
  let pins: PinRoot | undefined;
  let ns: string | undefined;

  beforeAll(() => buildBpfObjects());
  const pinPath = () => pins!.path;
  afterEach(() => {
    if (ns) delNetns(ns);
    ns = undefined;
    pins?.cleanup();
    pins = undefined;
  });

  function loaded(): BpfObject {
    pins = makePinRoot();
    const obj = BpfObject.open(object(), { pinRoot: pinPath() });
    obj.load();
    return obj;
  }

  it('loads the veth object, pins its maps by name and reuses them on the next load', () => {
    const first = loaded();
    expect(first.programNames().sort()).toEqual(['from_pod', 'to_pod']);
    expect(first.mapNames().sort()).toEqual(['braid_ep', 'braid_ep_stats']);
    expect(existsSync(join(pinPath(), 'braid_ep'))).toBe(true);
    const firstMap = new BpfMap(first.mapFd('braid_ep'), endpointKeyCodec, endpointCodec);
    const second = BpfObject.open(object(), { pinRoot: pinPath() });
    second.load();
    const secondMap = new BpfMap(second.mapFd('braid_ep'), endpointKeyCodec, endpointCodec);
    expect(secondMap.info.id).toBe(firstMap.info.id);
    first.close();
    second.close();
  });

  it('reads, writes, iterates and deletes typed map entries, per-CPU values included', () => {
    const obj = loaded();
    const eps = BpfMap.pinned(join(pinPath(), 'braid_ep'), endpointKeyCodec, endpointCodec);
    const ep = { ifindex: 7, flags: 0, podMac: '02:aa:00:00:00:01', hostMac: '02:bb:00:00:00:01', owner: 42n };
    eps.update({ family: 4, address: '10.9.0.5' }, ep);
    eps.update({ family: 6, address: 'fd00::5' }, { ...ep, ifindex: 8 });
    expect(eps.lookup({ family: 4, address: '10.9.0.5' })).toEqual(ep);
    expect(
      eps
        .keys()
        .map((k) => k.address)
        .sort(),
    ).toEqual(['10.9.0.5', 'fd00::5']);
    expect(() => eps.update({ family: 4, address: '10.9.0.5' }, ep, BPF_NOEXIST)).toThrow(
      /update map braid_ep: EEXIST/,
    );
    expect(eps.delete({ family: 4, address: '10.9.0.5' })).toBe(true);
    expect(eps.delete({ family: 4, address: '10.9.0.5' })).toBe(false);
    expect(eps.lookup({ family: 4, address: '10.9.0.5' })).toBeUndefined();
    expect(eps.entries()).toHaveLength(1);

    const stats = PerCpuMap.pinned(join(pinPath(), 'braid_ep_stats'), u32, statsCodec);
    stats.update(8, { ...zeroStats(), rxPackets: 3n });
    const perCpu = stats.lookupPerCpu(8) ?? [];
    expect(perCpu.length).toBe(stats.cpus);
    expect(perCpu.every((s) => s.rxPackets === 3n)).toBe(true);
    eps.close();
    stats.close();
    obj.close();
  });

  it('refuses a codec whose size differs from the kernel map', () => {
    const obj = loaded();
    expect(() => new BpfMap(obj.mapFd('braid_ep'), u32, endpointCodec)).toThrow(/kernel sizes key=20/);
    obj.close();
  });

  it('reports the verifier log when a program is rejected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'braid-bad-'));
    try {
      const out = join(dir, 'rejected.o');
      execFileSync('clang', [
        '-target',
        'bpf',
        '-O2',
        '-g',
        '-mcpu=v3',
        '-I/usr/include/x86_64-linux-gnu',
        '-c',
        join(repoRoot, 'test/bpf/fixtures/rejected.c'),
        '-o',
        out,
      ]);
      const obj = BpfObject.open(out);
      let err: unknown;
      try {
        obj.load();
      } catch (e) {
        err = e;
      }
      obj.close();
      expect(err).toBeInstanceOf(BpfLoadError);
      expect((err as BpfLoadError).message).toMatch(/^load BPF object .*rejected\.o: EACCES/);
      expect((err as BpfLoadError).verifierLog).toMatch(/invalid access to packet|R\d+ invalid mem access/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('attaches tcx links inside a namespace, pins, queries and detaches them', () => {
    const obj = loaded();
    ns = addNetns('braid-t-bind');
    const fromPod = obj.programFd('from_pod');
    const toPod = obj.programFd('to_pod');
    const fromId = progInfo(fromPod).id;
    const sock = NetlinkSocket.in(`/run/netns/${ns}`);
    createVethPair(sock, { name: 'va' }, { name: 'vb' }, { mtu: 1500 });
    const va = findLink(sock, 'va');
    sock.close();
    expect(va?.kind).toBe('veth');
    const link = join(pinPath(), 'links/va-ingress');
    withNetns(`/run/netns/${ns}`, () => {
      attachTcxPinned(fromPod, va!.index, 'ingress', link, { label: 'va' });
      // "first" puts to_pod ahead of from_pod.
      const tmp = attachTcx(toPod, va!.index, 'ingress', { first: true });
      expect(queryTcx(va!.index, 'ingress')).toEqual([progInfo(toPod).id, fromId]);
      closeFd(tmp);
      expect(queryTcx(va!.index, 'ingress')).toEqual([fromId]);
    });
    expect(pinnedLinkInfo(link)).toMatchObject({ type: 11, progId: fromId, ifindex: va!.index, attachType: 46 });
    obj.close();
    // The pin keeps the attachment after every fd is closed.
    withNetns(`/run/netns/${ns}`, () => expect(queryTcx(va!.index, 'ingress')).toEqual([fromId]));
    expect(detachTcxPinned(link)).toBe(true);
    expect(existsSync(link)).toBe(false);
    withNetns(`/run/netns/${ns}`, () => expect(queryTcx(va!.index, 'ingress')).toEqual([]));
    expect(detachTcxPinned(link)).toBe(false);
  });

  it('names the operation and errno when an attach fails', () => {
    const obj = loaded();
    let err: unknown;
    try {
      attachTcx(obj.programFd('from_pod'), 999_999, 'egress', { label: 'nope0 in netns host' });
    } catch (e) {
      err = e;
    }
    obj.close();
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toBe('attach tcx egress on nope0 in netns host: ENODEV');
  });

  it('attaches and detaches a legacy tc filter without removing the clsact qdisc', () => {
    const obj = loaded();
    ns = addNetns('braid-t-bind');
    const sock = NetlinkSocket.in(`/run/netns/${ns}`);
    createVethPair(sock, { name: 'va' }, { name: 'vb' }, { mtu: 1500 });
    const va = findLink(sock, 'va')!;
    sock.close();
    const filter = { ifindex: va.index, dir: 'egress' as const, handle: 1, priority: 7 };
    withNetns(`/run/netns/${ns}`, () => {
      const id = attachTc(obj.programFd('to_pod'), filter, 'va');
      expect(id).toBe(progInfo(obj.programFd('to_pod')).id);
      expect(queryTc(filter)).toBe(id);
      expect(detachTc(filter)).toBe(true);
      expect(queryTc(filter)).toBeUndefined();
      expect(detachTc(filter)).toBe(false);
    });
    expect(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'va'], { encoding: 'utf8' })).toMatch(/clsact/);
    obj.close();
  });

  it('withNetns switches only for the callback, even when it throws', () => {
    ns = addNetns('braid-t-bind');
    const hostLinks = NetlinkSocket.open();
    const before = listLinks(hostLinks).length;
    expect(() =>
      withNetns(`/run/netns/${ns}`, () => {
        const inside = NetlinkSocket.open();
        expect(listLinks(inside).map((l) => l.name)).toEqual(['lo']);
        inside.close();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(listLinks(hostLinks).length).toBe(before);
    hostLinks.close();
    expect(() => withNetns('/run/netns/does-not-exist', () => 1)).toThrow(/open network namespace/);
  });

  it('pins and unpins an object fd', () => {
    const obj = loaded();
    const fd = openPinned(join(pinPath(), 'braid_ep'));
    closeFd(fd);
    expect(unpin(join(pinPath(), 'braid_ep'))).toBe(true);
    expect(() => openPinned(join(pinPath(), 'braid_ep'))).toThrow(/ENOENT/);
    obj.close();
  });
});
