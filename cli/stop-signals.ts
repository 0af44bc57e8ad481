/**
 * Ctrl+C (SIGINT) or SIGTERM while a long command runs: the first asks it to stop at the next safe
 * point (after the current step or case, its clean-up done), a second exits at once with 130.
 */
import { ExitCode } from './exit-codes.js';

export interface StopSignals {
  /** Aborted at the first signal. */
  readonly signal: AbortSignal;
  /** Puts the default handlers back (call in a finally). */
  release(): void;
}

/** `what` ends the note the user sees at the first signal: "stopping after <what> and cleaning up". */
export function trapStopSignals(note: (message: string) => void, what: string): StopSignals {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(ExitCode.CANCELLED);
    note(`${signal}: stopping after ${what} and cleaning up (again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}
