import { runPlugin } from '../src/cni/skel.ts';
import { vethHandlers } from '../src/veth/plugin.ts';

process.exitCode = await runPlugin(vethHandlers);
