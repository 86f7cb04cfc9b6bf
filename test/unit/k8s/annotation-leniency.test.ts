import { describe, expect, it } from 'vitest';
import { leniency } from '../../../src/base/leniency.ts';
import { parseNetworksAnnotation } from '../../../src/k8s/annotations.ts';

// Issue 11 item 2, parser level: what Multus accepts is accepted with a warning naming the field;
// strict (or no leniency, as before) refuses it with code 7.

const ANN = 'k8s.v1.cni.cncf.io/networks';

describe('the networks annotation, accepting what Multus accepts', () => {
  it.each([
    [
      'an unknown key',
      '[{"name":"a","colour":"red"}]',
      `annotation ${ANN} element 0 "colour"`,
      { name: 'a', namespace: 'ns' },
    ],
    [
      'a null cni-args',
      '[{"name":"a","cni-args":null}]',
      `annotation ${ANN} element 0 "cni-args"`,
      { name: 'a', namespace: 'ns' },
    ],
    ['a null ips', '[{"name":"a","ips":null}]', `annotation ${ANN} element 0 "ips"`, { name: 'a', namespace: 'ns' }],
    [
      'zero bandwidth rates',
      '[{"name":"a","bandwidth":{"ingressRate":0,"egressRate":0}}]',
      `annotation ${ANN} element 0 "bandwidth.ingressRate"`,
      { name: 'a', namespace: 'ns' },
    ],
    [
      'hostPort 0',
      '[{"name":"a","portMappings":[{"hostPort":0,"containerPort":80}]}]',
      `annotation ${ANN} element 0 "portMappings[0].hostPort"`,
      { portMappings: [{ hostPort: 0, containerPort: 80, protocol: 'TCP' }] },
    ],
    [
      'an 8-byte MAC',
      '[{"name":"a","mac":"02:00:00:00:00:00:00:01"}]',
      `annotation ${ANN} element 0 "mac"`,
      { mac: '02:00:00:00:00:00:00:01' },
    ],
    [
      'dual-stack default-route on two elements',
      '[{"name":"a","default-route":["10.0.0.1"]},{"name":"b","default-route":["fd00::1"]}]',
      `annotation ${ANN} element 1 "default-route"`,
      { name: 'a', 'default-route': ['10.0.0.1'] },
    ],
  ])('%s: accepted with a warning, refused when strict', (_what, value, field, first) => {
    const lenient = leniency(false);
    const elements = parseNetworksAnnotation(value, 'ns', { pod: 'ns/web', lenient });
    expect(elements[0]).toMatchObject(first);
    expect(lenient.warnings.map((w) => w.field)).toContain(field);
    for (const ctx of [{ pod: 'ns/web', lenient: leniency(true) }, { pod: 'ns/web' }]) {
      expect(() => parseNetworksAnnotation(value, 'ns', ctx)).toThrow(expect.objectContaining({ code: 7 }));
    }
  });

  it('still refuses what Multus refuses too: two default-route gateways of one family', () => {
    const value = '[{"name":"a","default-route":["10.0.0.1"]},{"name":"b","default-route":["10.1.0.1"]}]';
    expect(() => parseNetworksAnnotation(value, 'ns', { lenient: leniency(false) })).toThrow(/default-route/);
  });
});
