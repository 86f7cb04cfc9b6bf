import { runPlugin } from '../src/cni/skel.ts';
import { vethHandlers } from '../src/veth/plugin.ts';

// No top-level await: the single-executable build bundles this file as CommonJS.
void runPlugin(vethHandlers).then((code) => {
  process.exitCode = code;
});
