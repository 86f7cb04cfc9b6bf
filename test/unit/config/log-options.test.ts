import { describe, expect, it } from 'vitest';
import { CniCode, type CniError } from '../../../src/base/errors.ts';
import { loadBraidConf } from '../../../src/config/conf.ts';
import { failure as cniFailure } from '../../helpers/failure.ts';

const minimal = { cniVersion: '1.0.0', name: 'braid-network', type: 'braid', clusterNetwork: 'flannel' };

const failure = (logOptions: unknown): CniError =>
  cniFailure(() => loadBraidConf({ ...minimal, logFile: '/var/log/braid.log', logOptions }));

describe('logOptions', () => {
  it("defaults to Multus' values when absent", () => {
    expect(loadBraidConf(minimal).logOptions).toEqual({ maxAge: 5, maxSize: 100, maxBackups: 5, compress: true });
  });

  it('fills in the keys left out, and takes maxSize 0 as the default size', () => {
    expect(loadBraidConf({ ...minimal, logOptions: { maxSize: 0, compress: false } }).logOptions).toEqual({
      maxAge: 5,
      maxSize: 100,
      maxBackups: 5,
      compress: false,
    });
  });

  it('keeps 0 for maxAge and maxBackups: no limit', () => {
    const conf = loadBraidConf({ ...minimal, logOptions: { maxAge: 0, maxSize: 10, maxBackups: 0, compress: true } });
    expect(conf.logOptions).toEqual({ maxAge: 0, maxSize: 10, maxBackups: 0, compress: true });
  });

  it('takes logOptions from the braid plugin of a conflist', () => {
    const conf = loadBraidConf({
      cniVersion: '1.0.0',
      name: 'braid-network',
      plugins: [{ type: 'braid', clusterNetwork: 'flannel', logOptions: { maxBackups: 2 } }],
    });
    expect(conf.logOptions.maxBackups).toBe(2);
  });

  it.each([
    ['maxAge', -1, /"logOptions\.maxAge" must be >= 0 \(got -1\)/],
    ['maxSize', -100, /"logOptions\.maxSize" must be >= 0 \(got -100\)/],
    ['maxBackups', -5, /"logOptions\.maxBackups" must be >= 0 \(got -5\)/],
    ['maxSize', '100', /"logOptions\.maxSize" must be an integer \(got "100"\)/],
    ['maxAge', 1.5, /"logOptions\.maxAge" must be an integer \(got 1\.5\)/],
    ['maxBackups', null, /"logOptions\.maxBackups" must be an integer \(got null\)/],
    ['compress', 'yes', /"logOptions\.compress" must be a boolean \(got "yes"\)/],
  ])('rejects %s = %j as a config error naming the field', (field, value, message) => {
    const err = failure({ [field]: value });
    expect(err.code).toBe(CniCode.InvalidConfig);
    expect(err.code).toBe(7);
    expect(err.message).toMatch(message);
  });

  it('rejects a logOptions that is not an object', () => {
    const err = failure(100);
    expect(err.code).toBe(7);
    expect(err.message).toMatch(/"logOptions" must be an object \(got 100\)/);
  });
});
