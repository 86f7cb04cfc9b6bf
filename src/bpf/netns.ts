/** Network-namespace switching for BPF work (tcx/tc attach resolve ifindexes in the calling thread's namespace). */
export { isNetnsPath, withNetns } from '../net/netns.ts';
