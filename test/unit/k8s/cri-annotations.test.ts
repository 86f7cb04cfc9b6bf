import { describe, expect, it } from 'vitest';
import { CriAnnotationsSource } from '../../../src/k8s/cri-annotations.ts';

const annotations = { 'k8s.v1.cni.cncf.io/networks': 'macvlan-conf', other: 'x' };
const runtimeConfig = { 'io.kubernetes.cri.pod-annotations': annotations, portMappings: [] };

describe('CriAnnotationsSource', () => {
  it('answers with the annotations the runtime passed', async () => {
    const source = new CriAnnotationsSource(runtimeConfig, { namespace: 'ns', name: 'web', uid: 'u1' });
    expect(source.available).toBe(true);
    expect(await source.getPod('ns', 'web')).toEqual({
      namespace: 'ns',
      name: 'web',
      uid: 'u1',
      labels: {},
      annotations,
    });
  });

  it('knows nothing when the capability was not passed', async () => {
    const source = new CriAnnotationsSource({ portMappings: [] });
    expect(source.available).toBe(false);
    expect(await source.getPod('ns', 'web')).toBeUndefined();
    expect(await new CriAnnotationsSource(undefined).getPod('ns', 'web')).toBeUndefined();
  });

  it("answers only for the request's pod", async () => {
    const source = new CriAnnotationsSource(runtimeConfig, { namespace: 'ns', name: 'web', uid: 'u1' });
    expect(await source.getPod('ns', 'db')).toBeUndefined();
    expect(await source.getPod('other', 'web')).toBeUndefined();
    expect(await source.getPod('ns', 'web', 'u2')).toBeUndefined();
    expect(await source.getPod('ns', 'web', 'u1')).toBeDefined();
  });

  it('rejects a value that is not a map of strings, with code 7', async () => {
    const source = new CriAnnotationsSource({ 'io.kubernetes.cri.pod-annotations': { a: 1 } });
    await expect(source.getPod('ns', 'web')).rejects.toMatchObject({
      code: 7,
      message: expect.stringContaining('["a"]'),
    });
    const list = new CriAnnotationsSource({ 'io.kubernetes.cri.pod-annotations': ['a'] });
    await expect(list.getPod('ns', 'web')).rejects.toMatchObject({ code: 7 });
  });
});
