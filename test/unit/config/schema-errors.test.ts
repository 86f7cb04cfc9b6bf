import type { ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { keyPath, schemaErrorMessage } from '../../../src/base/schema-errors.ts';

function error(partial: Partial<ErrorObject> & Pick<ErrorObject, 'keyword' | 'instancePath'>): ErrorObject {
  return { schemaPath: `#/${partial.keyword}`, params: {}, ...partial } as ErrorObject;
}

describe('schema error messages', () => {
  it('renders JSON pointers as key paths', () => {
    expect(keyPath('/delegates/0/type')).toBe('delegates[0].type');
    expect(keyPath('/metadata/annotations/k8s.v1.cni.cncf.io~1networks')).toBe(
      'metadata.annotations["k8s.v1.cni.cncf.io/networks"]',
    );
    expect(keyPath('', 'name')).toBe('name');
  });

  it('names the missing and the unknown key', () => {
    const msg = schemaErrorMessage(
      'thing',
      [
        error({ keyword: 'required', instancePath: '/spec', params: { missingProperty: 'config' } }),
        error({ keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'foo' } }),
      ],
      { spec: {}, foo: 1 },
    );
    expect(msg).toBe('thing: "spec.config" is required; "foo" is not a known key');
  });

  it('caps the list of problems', () => {
    const errors = Array.from({ length: 7 }, (_, i) =>
      error({ keyword: 'type', instancePath: `/k${i}`, params: { type: 'string' } }),
    );
    expect(schemaErrorMessage('x', errors, {})).toContain('(and 2 more problems)');
  });
});
