/**
 * How a bulletin's speakers did, read from the play reports stored for its schedule or alert
 * (a report names the schedule, or the alert, as `scheduleId`), as the monthly report reads
 * them: a speaker played it when every pass it was given ended `completed`.
 */
import type { StoredReport } from '../reports/reports.js';
import type { BulletinCounts } from './repo.js';

/**
 * `targeted`: the speakers it was sent to; `passes`: the plays each was given (repetitions);
 * `reports`: the stored reports of its schedule or alert.
 */
export function countPlays(targeted: readonly string[], passes: number, reports: readonly StoredReport[]): BulletinCounts & { settled: boolean } {
  const byDevice = new Map<string, StoredReport[]>();
  for (const r of reports) byDevice.set(r.deviceId, [...(byDevice.get(r.deviceId) ?? []), r]);
  let played = 0;
  let failed = 0;
  for (const id of new Set(targeted)) {
    const mine = byDevice.get(id) ?? [];
    if (mine.some((r) => r.status !== 'completed')) failed++;
    else if (mine.length >= passes) played++;
  }
  const noReport = new Set(targeted).size - played - failed;
  return { targeted: new Set(targeted).size, played, failed, noReport, settled: noReport === 0 };
}

/** Anything reported at all: the bulletin went on air somewhere (or tried to). */
export const anyReport = (c: BulletinCounts) => c.played + c.failed > 0;
