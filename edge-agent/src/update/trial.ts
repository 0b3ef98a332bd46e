/**
 * A new release on trial (issue 20). The running agent installs it: the trial is recorded, then
 * `current` is switched, then the agent exits for the service manager to start the new one. The
 * guard runs before every start (the service's ExecStartPre, from the *confirmed* release, so a
 * broken new release cannot skip it) and gives the new release exactly one start: started again
 * before it confirmed — it crashed, the watchdog killed it, it found itself unhealthy and stopped,
 * the box rebooted or lost power — the guard puts `current` back on the confirmed release and
 * records why. The new agent confirms once it is healthy; `confirmed` then follows `current`.
 */
import { readdirSync, rmSync } from 'node:fs';
import type { BoxLayout, TrialState, UpdateOutcome, UpdateState } from './box-layout.js';

export type GuardDecision =
  | { action: 'steady'; version: string | null }
  | { action: 'trial-start'; version: string; deadline: number }
  | { action: 'rolled-back'; version: string; from: string; reason: string };

const outcomeOf = (trial: TrialState, outcome: UpdateOutcome['outcome'], reason: string | null, at: number): UpdateOutcome => ({
  version: trial.version,
  from: trial.from,
  outcome,
  reason,
  at,
  rolloutId: trial.rolloutId,
  reported: false,
});

/** What to start now; rolls back first when the trial release has had its start. */
export function guardStart(layout: BoxLayout, now: number): GuardDecision {
  const state = layout.readState();
  const trial = state.trial;
  const current = layout.pointer('current');
  const confirmed = layout.pointer('confirmed');
  if (trial && current === trial.version) {
    if (trial.starts === 0 && now <= trial.deadline) {
      layout.writeState({ ...state, trial: { ...trial, starts: 1 } });
      return { action: 'trial-start', version: trial.version, deadline: trial.deadline };
    }
    const reason = trial.failure ?? (trial.starts > 0 ? 'restarted before confirming (crash, watchdog, reboot or power cut)' : 'not started before its deadline');
    // Pointer first: killed between the two, the next start finds the trial over and records it.
    layout.setPointer('current', trial.from);
    layout.writeState({ trial: null, last: outcomeOf(trial, 'rolled-back', reason, now) });
    return { action: 'rolled-back', version: trial.from, from: trial.version, reason };
  }
  if (trial) {
    // The trial never got going (stopped before the switch), or its roll-back stopped half-way.
    const reason = trial.failure ?? (trial.starts > 0 ? 'restarted before confirming (crash, watchdog, reboot or power cut)' : 'installation stopped before the switch');
    layout.writeState({ trial: null, last: outcomeOf(trial, 'rolled-back', reason, now) });
  }
  if (confirmed && current !== confirmed) {
    // `current` moved with no trial to account for it: only the confirmed release may run.
    layout.setPointer('current', confirmed);
    return { action: 'rolled-back', version: confirmed, from: current ?? 'none', reason: 'current pointed at a release that was not on trial' };
  }
  return { action: 'steady', version: current };
}

/** Records the trial, then switches `current` to it (the caller then exits to be restarted). */
export function beginTrial(layout: BoxLayout, trial: Omit<TrialState, 'starts' | 'failure'>): void {
  const state = layout.readState();
  layout.writeState({ ...state, trial: { ...trial, starts: 0 } });
  layout.setPointer('current', trial.version);
}

/** The trial release is healthy: it becomes the confirmed one; releases older than the one it replaced are removed. */
export function confirmTrial(layout: BoxLayout, now: number): UpdateOutcome | null {
  const state = layout.readState();
  const trial = state.trial;
  if (!trial || layout.pointer('current') !== trial.version) return null;
  layout.setPointer('confirmed', trial.version);
  const last = outcomeOf(trial, 'confirmed', null, now);
  layout.writeState({ trial: null, last });
  pruneReleases(layout, [trial.version, trial.from]);
  return last;
}

/** The trial release found itself unhealthy: says why, for the guard to record when it rolls back. */
export function failTrial(layout: BoxLayout, failure: string): void {
  const state = layout.readState();
  if (!state.trial) return;
  layout.writeState({ ...state, trial: { ...state.trial, failure } });
}

/** Marks the last outcome as told to the server. */
export function markReported(layout: BoxLayout): void {
  const state: UpdateState = layout.readState();
  if (state.last && !state.last.reported) layout.writeState({ ...state, last: { ...state.last, reported: true } });
}

/** Removes every release but `keep` (and unfinished unpacks), to leave room for the next. */
export function pruneReleases(layout: BoxLayout, keep: string[]): void {
  let names: string[];
  try {
    names = readdirSync(layout.releasesDir);
  } catch {
    return;
  }
  for (const name of names) if (!keep.includes(name)) rmSync(layout.releaseDir(name), { recursive: true, force: true });
}
