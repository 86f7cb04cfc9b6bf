import { describe, expect, it } from 'vitest';
import { isStaticOrMirrorPod } from '../../../src/k8s/api-sources.ts';
import { addedInterfaceMessage, podEvent } from '../../../src/k8s/events.ts';
import type { NetworkStatus } from '../../../src/k8s/types.ts';

const statuses: NetworkStatus[] = [
  { name: 'cbr0', interface: 'eth0', ips: ['10.244.1.5'], mac: '0a:58:0a:f4:01:05', default: true, dns: {} },
  {
    name: 'default/macvlan',
    interface: 'net1',
    ips: ['192.168.1.200', 'fd00::c8'],
    mac: '02:42:c0:a8:01:c8',
    default: false,
    dns: {},
  },
];

describe('AddedInterface events', () => {
  it('word the message like Multus', () => {
    expect(addedInterfaceMessage(statuses[1]!)).toBe('Add net1 [192.168.1.200 fd00::c8] from default/macvlan');
  });

  it('are core/v1 Events about the pod with a unique client-go style name', () => {
    const pod = { namespace: 'team-a', name: 'web-0', uid: 'u-1' };
    const a = podEvent(pod, 'Normal', 'AddedInterface', 'm', 'node-a');
    const b = podEvent(pod, 'Normal', 'AddedInterface', 'm', 'node-a');
    expect(a).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'team-a' },
      involvedObject: { kind: 'Pod', namespace: 'team-a', name: 'web-0', uid: 'u-1' },
      reason: 'AddedInterface',
      type: 'Normal',
      source: { component: 'braid', host: 'node-a' },
      count: 1,
    });
    expect((a.metadata as { name: string }).name).toMatch(/^web-0\.[0-9a-f]+$/);
    expect((a.metadata as { name: string }).name).not.toBe((b.metadata as { name: string }).name);
    expect(a.firstTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe('static and mirror pods', () => {
  it('are recognised by kubernetes.io/config.source or config.mirror', () => {
    expect(isStaticOrMirrorPod({ 'kubernetes.io/config.source': 'file' })).toBe(true);
    expect(isStaticOrMirrorPod({ 'kubernetes.io/config.mirror': 'abc' })).toBe(true);
    expect(isStaticOrMirrorPod({ 'kubernetes.io/config.source': 'api' })).toBe(false);
    expect(isStaticOrMirrorPod({})).toBe(false);
  });
});
