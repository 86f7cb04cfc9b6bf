import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { loadNativeAddon, NATIVE_ADDON_FILE, type NativeAddon } from '../../src/net/native-addon.ts';
// @ts-expect-error: a plain .mjs build script without types
import { buildNativeAddon } from '../../scripts/build-front.mjs';

let built: { dir: string; addon: NativeAddon } | undefined;

/**
 * braid's addon (native/braid-native.c) built from the sources into a temp dir once per test file
 * and loaded, so that a test never runs a stale dist/ copy. Removed after the file.
 */
export async function testNativeAddon(): Promise<NativeAddon> {
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'braid-addon-'));
    await buildNativeAddon(join(dir, NATIVE_ADDON_FILE));
    built = { dir, addon: loadNativeAddon(join(dir, NATIVE_ADDON_FILE)) };
  }
  return built.addon;
}

afterAll(() => {
  // The loaded library stays mapped; only its file goes.
  if (built) rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
});
