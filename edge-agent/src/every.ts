/** A repeating timer on an injected clock (the Clock has only one-shot timers). */
import type { Clock, ClockTimer } from '@loalang/protocol';

export interface Repeating {
  stop(): void;
}

/**
 * Calls `fn` every `ms` on `clock` until stopped, as setInterval does: each call's successor
 * is armed before it runs, so a slow or throwing `fn` neither shifts nor ends the rhythm.
 */
export function every(clock: Clock, ms: number, fn: () => void): Repeating {
  let timer: ClockTimer | null = null;
  let stopped = false;
  const arm = (): void => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      fn();
    }, ms);
  };
  arm();
  return {
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      timer = null;
    },
  };
}
