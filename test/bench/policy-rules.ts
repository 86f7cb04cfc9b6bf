/**
 * The benchmark policy: 10,000 peer prefixes and 1,000 port ranges on one interface's ingress,
 * as a MultiNetworkPolicy for braid and as the iptables rules multi-networkpolicy-iptables
 * renders for it (ebpf.md section 3: INPUT -i <if> -j MULTI-INGRESS, a COMMON chain that accepts
 * RELATED,ESTABLISHED, then per rule a PORTS and a FROM chain that set marks, one rule per port
 * and per peer, RETURN when both marks are set, DROP).
 */
export interface BenchPolicy {
  prefixes: string[];
  ranges: [number, number][];
}

/** `count` prefixes (/30 in 172.16.0.0/12 from `offset` on) with `allowed` among them, and `ranges` port ranges. */
export function benchPolicy(allowed: string, count = 10_000, rangeCount = 1_000, offset = 0): BenchPolicy {
  const prefixes: string[] = [];
  for (let i = 0; i < count - 1; i++) {
    const n = (172 << 24) + (16 << 16) + (offset + i) * 4;
    prefixes.push(`${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/30`);
  }
  // The allowed peer in the middle of the list: iptables' mark rules are evaluated all the same.
  prefixes.splice(Math.floor(prefixes.length / 2), 0, `${allowed}/32`);
  const ranges: [number, number][] = [];
  for (let i = 0; i < rangeCount - 1; i++) ranges.push([20_000 + i * 20, 20_000 + i * 20 + 9]);
  ranges.splice(Math.floor(ranges.length / 2), 0, [5300, 5310]);
  return { prefixes, ranges };
}

export function policyYaml(p: BenchPolicy, network: string): string {
  const from = p.prefixes.map((c) => `    - ipBlock: {cidr: ${c}}`).join('\n');
  const ports = p.ranges.map(([a, b]) => `    - {protocol: TCP, port: ${a}, endPort: ${b}}`).join('\n');
  return `apiVersion: k8s.cni.cncf.io/v1beta1
kind: MultiNetworkPolicy
metadata:
  name: bench
  namespace: bench
  annotations: {k8s.v1.cni.cncf.io/policy-for: ${network}}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from:
${from}
    ports:
${ports}
`;
}

/** iptables-restore input; `conntrack` false renders the releases without the COMMON shortcut. */
export function iptablesRules(p: BenchPolicy, ifname: string, network: string, conntrack: boolean): string {
  const lines = [
    '*filter',
    ':MULTI-INGRESS - [0:0]',
    ':MULTI-EGRESS - [0:0]',
    ':MULTI-INGRESS-COMMON - [0:0]',
    ':MULTI-EGRESS-COMMON - [0:0]',
    ':MULTI-0-INGRESS - [0:0]',
    ':MULTI-0-INGRESS-0-PORTS - [0:0]',
    ':MULTI-0-INGRESS-0-FROM - [0:0]',
    `-A INPUT -i ${ifname} -j MULTI-INGRESS`,
    `-A OUTPUT -o ${ifname} -j MULTI-EGRESS`,
    '-A MULTI-INGRESS -j MULTI-INGRESS-COMMON',
    '-A MULTI-EGRESS -j MULTI-EGRESS-COMMON',
  ];
  if (conntrack) {
    lines.push('-A MULTI-INGRESS-COMMON -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    lines.push('-A MULTI-EGRESS-COMMON -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  }
  lines.push(
    `-A MULTI-INGRESS -m comment --comment "policy:bench net-attach-def:${network}" -i ${ifname} -j MULTI-0-INGRESS`,
    '-A MULTI-0-INGRESS -j MARK --set-xmark 0x0/0x30000',
    '-A MULTI-0-INGRESS -j MULTI-0-INGRESS-0-PORTS',
    '-A MULTI-0-INGRESS -j MULTI-0-INGRESS-0-FROM',
    '-A MULTI-0-INGRESS -m mark --mark 0x30000/0x30000 -j RETURN',
    '-A MULTI-0-INGRESS -j DROP',
  );
  for (const [a, b] of p.ranges)
    lines.push(
      `-A MULTI-0-INGRESS-0-PORTS -i ${ifname} -m tcp -p tcp --dport ${a}:${b} -j MARK --set-xmark 0x10000/0x10000`,
    );
  for (const c of p.prefixes)
    lines.push(`-A MULTI-0-INGRESS-0-FROM -i ${ifname} -s ${c} -j MARK --set-xmark 0x20000/0x20000`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}
