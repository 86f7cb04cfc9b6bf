import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATHS } from '../../../src/base/defaults.ts';
import { ASSET_DIR_ENV } from '../../../src/base/sea-assets.ts';

// scripts/sea-main.cjs runs before braid's bundle, so it cannot import src/base/defaults.ts: it
// repeats the asset root and its variable, which must stay the ones src/base/sea-assets.ts uses
// (the code caches are kept beside the extracted assets, under the same ownership check).
const seaMain = readFileSync(join(import.meta.dirname, '../../../scripts/sea-main.cjs'), 'utf8');

describe('scripts/sea-main.cjs', () => {
  it('uses the asset root and variable of src/base/sea-assets.ts', () => {
    expect(seaMain).toContain(`const DEFAULT_ROOT = '${PATHS.assetRoot}';`);
    expect(seaMain).toContain(`const ASSET_DIR_ENV = '${ASSET_DIR_ENV}';`);
  });
});
