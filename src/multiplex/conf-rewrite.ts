import { parseNetworkConfig } from '../cni/conflist.ts';
import type { NetworkConfigList } from '../cni/netconf.ts';

/**
 * Applies a change to every plugin of a network configuration (the top-level object of a
 * `.conf`, each `plugins[]` entry of a conflist) and returns the re-parsed list, so that the
 * bytes braid caches and runs are the bytes the delegates see.
 */
export function rewritePlugins(
  list: NetworkConfigList,
  origin: string,
  change: (plugin: Record<string, unknown>) => void,
): NetworkConfigList {
  const doc = JSON.parse(list.bytes) as Record<string, unknown>;
  if (Array.isArray(doc.plugins)) {
    for (const plugin of doc.plugins as Record<string, unknown>[]) change(plugin);
  } else {
    change(doc);
  }
  return parseNetworkConfig(JSON.stringify(doc), origin);
}
