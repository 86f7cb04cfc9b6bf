import { CniError } from '../../src/base/errors.ts';

/**
 * The CniError a call throws (or a promise rejects with), for asserting its code and message; the
 * test fails when it succeeds or throws something else.
 */
export function failure(fn: () => unknown): CniError;
export function failure(pending: Promise<unknown>): Promise<CniError>;
export function failure(what: (() => unknown) | Promise<unknown>): CniError | Promise<CniError> {
  if (typeof what !== 'function') {
    return what.then(
      () => {
        throw new Error('expected a CniError, but the promise resolved');
      },
      (e: unknown) => asCniError(e),
    );
  }
  try {
    what();
  } catch (e) {
    return asCniError(e);
  }
  throw new Error('expected a CniError, but the call returned');
}

function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  throw e instanceof Error ? e : new Error(`expected a CniError, got ${String(e)}`);
}
