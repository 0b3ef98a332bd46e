/**
 * Keeps a device's desired state within what a speaker accepts (issue 14): when its plays would
 * not fit in MAX_DESIRED_PLAYS plays and MAX_DESIRED_PLAYS_BYTES of JSON, the schedules with the
 * fewest plays are kept whole (emergency and priority first) and only the schedule(s) that do
 * not fit are cut, keeping their earliest plays. One runaway schedule so never silences a
 * speaker's other bulletins; what was cut is returned, for the alarm technicians see.
 */
import { MAX_DESIRED_PLAYS, MAX_DESIRED_PLAYS_BYTES, type DesiredPlay, type Priority } from '@loalang/protocol';

export interface StateBudget {
  maxPlays: number;
  maxBytes: number;
}

export const DEFAULT_STATE_BUDGET: StateBudget = { maxPlays: MAX_DESIRED_PLAYS, maxBytes: MAX_DESIRED_PLAYS_BYTES };

/** Plays left out of a state, by schedule. */
export interface CutPlays {
  scheduleId: string;
  kept: number;
  dropped: number;
}

const RANK: Record<Priority, number> = { emergency: 0, priority: 1, normal: 2 };

/** JSON bytes one play adds to the plays array (its text and a comma). */
const sizeOf = (p: DesiredPlay) => Buffer.byteLength(JSON.stringify(p)) + 1;

/** The plays that fit, in their original order, and what was cut. */
export function fitToBudget(plays: DesiredPlay[], budget: StateBudget = DEFAULT_STATE_BUDGET): { plays: DesiredPlay[]; cut: CutPlays[] } {
  const sizes = plays.map(sizeOf);
  const total = sizes.reduce((a, b) => a + b, 2);
  if (plays.length <= budget.maxPlays && total <= budget.maxBytes) return { plays, cut: [] };
  const groups = new Map<string, number[]>();
  plays.forEach((p, i) => {
    const group = groups.get(p.scheduleId);
    if (group) group.push(i);
    else groups.set(p.scheduleId, [i]);
  });
  const order = [...groups.entries()].sort(
    ([, a], [, b]) => RANK[plays[a[0]!]!.priority] - RANK[plays[b[0]!]!.priority] || a.length - b.length,
  );
  const keep = new Set<number>();
  let count = 0;
  let bytes = 2;
  const cut: CutPlays[] = [];
  for (const [scheduleId, indexes] of order) {
    let kept = 0;
    // Earliest first: the plays are sorted by time, and so is each group.
    for (const i of indexes) {
      if (count + 1 > budget.maxPlays || bytes + sizes[i]! > budget.maxBytes) break;
      keep.add(i);
      count++;
      bytes += sizes[i]!;
      kept++;
    }
    if (kept < indexes.length) cut.push({ scheduleId, kept, dropped: indexes.length - kept });
  }
  return { plays: plays.filter((_, i) => keep.has(i)), cut };
}
