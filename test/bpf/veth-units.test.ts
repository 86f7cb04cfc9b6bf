// Pure parts of the veth plugin and its netlink codec (no root needed).
import { describe, expect, it } from 'vitest';
import { formatIp, parseIp, parseMac, parsePrefix } from '../../src/net/ip.ts';
import {
  NLM_F_ACK_TLVS,
  attr,
  attrNested,
  attrString,
  attrU32,
  decodeError,
  decodeMessages,
  encodeMessage,
  parseAttrs,
} from '../../src/net/rtnl-codec.ts';
import { parseVethConfig } from '../../src/veth/config.ts';
import { encodeWith } from '../../src/bpf/codec.ts';
import { endpointCodec, endpointKeyCodec } from '../../src/veth/endpoint-map.ts';
import { hostVethName, ownerId, randomMac } from '../../src/veth/names.ts';

describe('IP text <-> bytes', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['FE80::1', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ])('%s is written %s', (input, canonical) => {
    expect(formatIp(parseIp(input).bytes)).toBe(canonical);
  });

  it('parses prefixes and refuses bad ones', () => {
    expect(parsePrefix('10.1.0.0/16')).toMatchObject({ family: 4, prefixLen: 16 });
    expect(parsePrefix('fd00::1')).toMatchObject({ family: 6, prefixLen: 128 });
    expect(() => parsePrefix('10.0.0.0/33')).toThrow(/bad prefix length/);
    expect(() => parseIp('10.0.0')).toThrow(/not an IP address/);
    expect(() => parseMac('02:00:00:00:00')).toThrow(/not a MAC/);
  });
});

describe('netlink codec', () => {
  it('pads attributes to 4 bytes and reads nested ones back', () => {
    const a = attrString(3, 'eth0');
    expect(a.length).toBe(12);
    expect(a.readUInt16LE(0)).toBe(9);
    const nested = attrNested(18, [attrString(1, 'veth'), attrU32(2, 7)]);
    const outer = parseAttrs(Buffer.concat([nested, attr(4, Buffer.from([1, 2, 3]))]));
    const inner = parseAttrs(outer.get(18)!);
    expect(inner.get(1)!.toString()).toBe('veth\0');
    expect(inner.get(2)!.readUInt32LE(0)).toBe(7);
    expect([...outer.get(4)!]).toEqual([1, 2, 3]);
  });

  it('splits a datagram into messages and reads an extended-ack error', () => {
    const msgA = encodeMessage(16, 0, 5, [Buffer.alloc(16)]);
    const errPayload = Buffer.concat([
      Buffer.from(Int32Array.of(-17).buffer),
      encodeMessage(16, 5, 5, []), // echoed request header (NETLINK_CAP_ACK)
      attrString(1, 'File exists'),
    ]);
    const err = encodeMessage(2, 0x100 | NLM_F_ACK_TLVS, 5, [errPayload]);
    const msgs = decodeMessages(Buffer.concat([msgA, err]));
    expect(msgs.map((m) => m.type)).toEqual([16, 2]);
    expect(decodeError(msgs[1]!)).toEqual({ errno: -17, text: 'File exists' });
  });
});

describe('names and ids', () => {
  it('derives a stable, 15-character host veth name from (containerID, ifname)', () => {
    const id = 'f'.repeat(64);
    expect(hostVethName('brv', id, 'eth0')).toMatch(/^brv[0-9a-f]{12}$/);
    expect(hostVethName('brv', id, 'eth0')).toBe(hostVethName('brv', id, 'eth0'));
    expect(hostVethName('brv', id, 'net1')).not.toBe(hostVethName('brv', id, 'eth0'));
    expect(hostVethName('x', id, 'eth0')).toHaveLength(15);
    expect(ownerId(id, 'eth0')).not.toBe(ownerId(id, 'net1'));
  });

  it('makes locally administered unicast MACs', () => {
    for (let i = 0; i < 50; i++) {
      const first = parseMac(randomMac())[0]!;
      expect(first & 0x01).toBe(0);
      expect(first & 0x02).toBe(2);
    }
  });

  it('lays endpoint keys and values out like struct braid_ep_key / braid_ep', () => {
    const key = encodeWith(endpointKeyCodec, { family: 6, address: 'fd00::5' });
    expect(key.length).toBe(20);
    expect(key.readUInt32LE(0)).toBe(6);
    expect(formatIp(key.subarray(4, 20))).toBe('fd00::5');
    const value = { ifindex: 9, flags: 1, podMac: '02:00:00:00:00:01', hostMac: '02:00:00:00:00:02', owner: 77n };
    const raw = encodeWith(endpointCodec, value);
    expect(raw.length).toBe(32);
    expect(raw.subarray(8, 20).toString('hex')).toBe('020000000001020000000002');
    expect(endpointCodec.decode(raw)).toEqual(value);
  });
});

describe('braid-veth config', () => {
  const base = { name: 'net', ipam: { type: 'host-local' } };

  it('fills defaults', () => {
    expect(parseVethConfig(base, '1.1.0')).toMatchObject({
      bpfRoot: '/sys/fs/bpf/braid/v1',
      stateDir: '/var/lib/cni/braid-veth',
      hostVethPrefix: 'brv',
      fastPath: true,
      gsoMaxSize: 65536,
    });
  });

  it.each([
    [{ name: 'net' }, /"ipam" is required/],
    [{ ...base, ipam: {} }, /"ipam.type" must name/],
    [{ ...base, mtu: 20 }, /"mtu" must be an integer between 576/],
    [{ ...base, hostVethPrefix: 'Too-Long' }, /"hostVethPrefix"/],
    [{ ...base, gsoMaxSize: 1 << 20 }, /"gsoMaxSize"/],
    [{ ...base, fastPath: 'yes' }, /"fastPath" must be true or false/],
    [{ ...base, runtimeConfig: { mac: 'nope' } }, /runtimeConfig.mac/],
  ])('refuses %j with code 7', (raw, msg) => {
    let err: unknown;
    try {
      parseVethConfig(raw as Record<string, unknown>, '1.1.0');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 7, message: expect.stringMatching(msg) });
  });
});
