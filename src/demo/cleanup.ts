import { stopAllChildren } from './exec.ts';

/**
 * Undo steps, run in reverse order of registration. Each step is registered before the thing it
 * removes is created (removing something absent is harmless), so that a failure or a signal in
 * the middle of a creation still cleans it up.
 */
export class Cleanup {
  private readonly steps: { label: string; undo: () => Promise<void> | void }[] = [];
  private done: Promise<string[]> | undefined;

  add(label: string, undo: () => Promise<void> | void): void {
    this.steps.push({ label, undo });
  }

  /** Labels of what was registered, oldest first. */
  labels(): string[] {
    return this.steps.map((s) => s.label);
  }

  /** Stops the demo's children, then runs every step once; returns the errors. Safe to call twice. */
  runAll(): Promise<string[]> {
    this.done ??= (async () => {
      stopAllChildren();
      const errors: string[] = [];
      for (const step of [...this.steps].reverse()) {
        try {
          await step.undo();
        } catch (e) {
          errors.push(`${step.label}: ${(e as Error).message}`);
        }
      }
      return errors;
    })();
    return this.done;
  }
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/**
 * Runs onSignal on Ctrl-C, SIGTERM or SIGHUP, then exits with 128 + the signal number, as a
 * shell reports a process a signal ended. Returns a function that removes the handlers.
 */
export function onTermination(onSignal: (signal: NodeJS.Signals) => Promise<void>): () => void {
  const handlers = Object.entries(SIGNALS).map(([name, number]) => {
    const signal = name as NodeJS.Signals;
    const handler = () => {
      void onSignal(signal).finally(() => process.exit(128 + number));
    };
    process.once(signal, handler);
    return { signal, handler };
  });
  return () => handlers.forEach(({ signal, handler }) => process.off(signal, handler));
}
