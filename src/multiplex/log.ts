import fs from 'node:fs';
import type { BraidConf, LogLevel } from '../config/types.ts';

const RANK: Record<LogLevel, number> = { panic: 0, error: 1, verbose: 2, debug: 3 };

export interface Logger {
  error(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
}

/**
 * Multus' logging keys: `logLevel`, `logFile`, `logToStderr`. Errors always reach stderr (when
 * `logToStderr`), because that is where a runtime collects a failing plugin's diagnostics; the
 * level decides everything else.
 */
export function createLogger(conf: Pick<BraidConf, 'logLevel' | 'logFile' | 'logToStderr'>, context: string): Logger {
  const write = (level: LogLevel, message: string) => {
    const enabled = RANK[level] <= RANK[conf.logLevel];
    if (!enabled && level !== 'error') return;
    const line = `${new Date().toISOString()} [${level}] ${context}: ${message}\n`;
    if (conf.logToStderr) process.stderr.write(line);
    if (conf.logFile && enabled) {
      try {
        fs.appendFileSync(conf.logFile, line);
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
