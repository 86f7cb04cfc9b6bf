import type { BraidConf, LogLevel } from '../config/types.ts';
import { appendLogLine, rotationPolicy } from './log-rotation.ts';

const RANK: Record<LogLevel, number> = { panic: 0, error: 1, verbose: 2, debug: 3 };

export interface Logger {
  error(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
}

/**
 * Multus' logging keys: `logLevel`, `logFile`, `logToStderr`, `logOptions`. Errors always reach
 * stderr (when `logToStderr`), because that is where a runtime collects a failing plugin's
 * diagnostics; the level decides everything else. `logFile` rotates as `logOptions` says.
 */
export function createLogger(
  conf: Pick<BraidConf, 'logLevel' | 'logFile' | 'logToStderr' | 'logOptions'>,
  context: string,
): Logger {
  const rotation = rotationPolicy(conf.logOptions);
  const write = (level: LogLevel, message: string) => {
    const enabled = RANK[level] <= RANK[conf.logLevel];
    if (!enabled && level !== 'error') return;
    const line = `${new Date().toISOString()} [${level}] ${context}: ${message}\n`;
    if (conf.logToStderr) process.stderr.write(line);
    if (conf.logFile && enabled) {
      try {
        appendLogLine(conf.logFile, line, rotation);
      } catch {
        // A broken log file must never fail a pod's network set-up.
      }
    }
  };
  return {
    error: (m) => write('error', m),
    verbose: (m) => write('verbose', m),
    debug: (m) => write('debug', m),
  };
}
