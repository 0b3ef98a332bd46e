/**
 * The service manager's side of the agent's health (issue 20): under systemd (`Type=notify`,
 * `WatchdogSec=`), the agent says READY once it runs and feeds the watchdog at half its period
 * while its event loop turns; a hung agent stops feeding and is killed and restarted, and a new
 * release that hangs is rolled back by the guard at that restart. The messages go through
 * `systemd-notify` (the unit sets `NotifyAccess=all`), as Node has no datagram socket of its own.
 * Without NOTIFY_SOCKET (a terminal, the tests) it does nothing.
 */
import { spawn } from 'node:child_process';
import type { Clock, Logger, Repeating } from '@loalang/protocol';
import { every } from '@loalang/protocol';

export type Notify = (state: string) => void;

/** `systemd-notify <state>`, fire and forget; a failure is logged once. */
export function systemdNotify(logger: Logger, command = 'systemd-notify'): Notify {
  let warned = false;
  return (state) => {
    const child = spawn(command, [state], { stdio: 'ignore' });
    child.once('error', (err) => {
      if (!warned) logger.warn({ err: err.message }, 'cannot tell the service manager (systemd-notify)');
      warned = true;
    });
  };
}

export interface ServiceWatchdog {
  ready(): void;
  stop(): void;
}

export function serviceWatchdog(env: NodeJS.ProcessEnv, clock: Clock, notify: Notify): ServiceWatchdog {
  if (!env['NOTIFY_SOCKET']) return { ready() {}, stop() {} };
  const usec = Number(env['WATCHDOG_USEC']);
  let feeding: Repeating | null = null;
  return {
    ready() {
      notify('READY=1');
      if (Number.isFinite(usec) && usec > 0 && !feeding) feeding = every(clock, Math.max(500, usec / 2000), () => notify('WATCHDOG=1'));
    },
    stop() {
      feeding?.stop();
      feeding = null;
      notify('STOPPING=1');
    },
  };
}
