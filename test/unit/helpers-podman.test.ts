import { describe, expect, it } from 'vitest';
import { containersConf, parseIpAddrText } from '../helpers/podman.ts';

// busybox `ip addr` in a namespace with a veth pair, an IPv4 and IPv6 address and a macvlan.
const BUSYBOX_IP_ADDR = `1: lo: <LOOPBACK> mtu 65536 qdisc noop qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: peer0@eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop qlen 1000
    link/ether 26:c2:4e:74:83:87 brd ff:ff:ff:ff:ff:ff
3: eth0@peer0: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue qlen 1000
    link/ether d2:e6:3c:66:9d:41 brd ff:ff:ff:ff:ff:ff
    inet 10.213.7.2/24 scope global eth0
       valid_lft forever preferred_lft forever
    inet6 fd00:213::2/64 scope global tentative 
       valid_lft forever preferred_lft forever
4: net1@eth0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 9000 qdisc noqueue qlen 1000
    link/ether ea:b0:5b:e8:09:49 brd ff:ff:ff:ff:ff:ff
`;

describe('parseIpAddrText', () => {
  it('reads every interface with its peer, flags, MTU, MAC and addresses', () => {
    const links = parseIpAddrText(BUSYBOX_IP_ADDR);

    expect(links.map((l) => l.ifname)).toEqual(['lo', 'peer0', 'eth0', 'net1']);
    expect(links[2]).toEqual({
      ifindex: 3,
      ifname: 'eth0',
      link: 'peer0',
      flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN'],
      mtu: 1500,
      link_type: 'ether',
      address: 'd2:e6:3c:66:9d:41',
      addr_info: [
        { family: 'inet', local: '10.213.7.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00:213::2', prefixlen: 64 },
      ],
    });
    expect(links[3]).toMatchObject({ ifname: 'net1', link: 'eth0', mtu: 9000, addr_info: [] });
  });

  it('gives loopback its all-zero address and no peer', () => {
    const [lo] = parseIpAddrText(BUSYBOX_IP_ADDR);
    expect(lo).toMatchObject({ ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00' });
    expect(lo).not.toHaveProperty('link');
  });

  it('returns nothing for output without interfaces (an error message, an empty run)', () => {
    expect(parseIpAddrText('')).toEqual([]);
    expect(parseIpAddrText('ip: RTNETLINK answers: Operation not permitted\n')).toEqual([]);
  });
});

describe('containersConf', () => {
  const conf = containersConf({
    pluginDirs: ['/repo/dist/bin', '/usr/lib/cni'],
    networkConfigDir: '/tmp/x/networks',
    imageTmpDir: '/tmp/x/image-tmp',
    runcPath: '/tmp/x/runc',
  });

  it('selects the CNI backend with the given plugin dirs, in order, and network dir', () => {
    expect(conf).toContain('network_backend = "cni"');
    expect(conf).toContain('cni_plugin_dirs = ["/repo/dist/bin", "/usr/lib/cni"]');
    expect(conf).toContain('network_config_dir = "/tmp/x/networks"');
  });

  it('uses runc (through the given program) with cgroupfs and ulimits this machine grants', () => {
    expect(conf).toContain('runtime = "runc"');
    expect(conf).toContain('[engine.runtimes]\nrunc = ["/tmp/x/runc"]');
    expect(conf).toContain('cgroup_manager = "cgroupfs"');
    expect(conf).toContain('default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]');
  });

  it('quotes paths as TOML strings', () => {
    const odd = containersConf({
      pluginDirs: ['/a "b"'],
      networkConfigDir: '/n\\m',
      imageTmpDir: '/t',
      runcPath: '/r',
    });
    expect(odd).toContain('cni_plugin_dirs = ["/a \\"b\\""]');
    expect(odd).toContain('network_config_dir = "/n\\\\m"');
  });
});
