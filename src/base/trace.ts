/**
 * Phase timings for performance work: with BRAID_TRACE=1 in its environment, a braid process
 * writes one stderr line per phase, with milliseconds since the process started. Off, it costs
 * one environment read per call. The variable is read at each call, not when the module loads:
 * the single executable's startup snapshot (scripts/build-sea.mjs) loads this module at build time.
 */
export function trace(phase: string): void {
  if (process.env.BRAID_TRACE === '1')
    process.stderr.write(`braid-trace ${performance.now().toFixed(1).padStart(7)} ms  ${phase}\n`);
}
