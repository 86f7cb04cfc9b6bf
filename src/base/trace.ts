/**
 * Phase timings for performance work: with BRAID_TRACE=1 in its environment, a braid process
 * writes one stderr line per phase, with milliseconds since the process started. Off, it costs
 * one property read per call.
 */
const enabled = process.env.BRAID_TRACE === '1';

export function trace(phase: string): void {
  if (enabled) process.stderr.write(`braid-trace ${performance.now().toFixed(1).padStart(7)} ms  ${phase}\n`);
}
