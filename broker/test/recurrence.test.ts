/** Recurrence on fixed instants (no wall clock): month ends, leap years, valid dates, skips, timezones. */
import { describe, expect, it } from 'vitest';
import { cronPattern, localDate, occurrences, validateRecurrence, type Recurrence } from '../src/schedules/recurrence.js';

const VN = 'Asia/Ho_Chi_Minh';
const at = (s: string) => Date.parse(s);
const list = (r: Recurrence, from: string, until: string, notBefore = from, tz = VN) =>
  occurrences(r, tz, { from: at(from), until: at(until), notBefore: at(notBefore) }).map((ms) => new Date(ms).toISOString());

describe('recurrence', () => {
  it('daily at 06:00 Vietnam time is 23:00 UTC the day before', () => {
    expect(list({ type: 'daily', time: '06:00' }, '2026-11-22T00:00:00Z', '2026-11-25T00:00:00Z')).toEqual([
      '2026-11-22T23:00:00.000Z',
      '2026-11-23T23:00:00.000Z',
      '2026-11-24T23:00:00.000Z',
    ]);
  });

  it('weekly on Monday, Wednesday and Friday (ISO days 1, 3, 5)', () => {
    const runs = list({ type: 'weekly', time: '17:30', days: [1, 3, 5] }, '2026-11-22T00:00:00Z', '2026-11-30T00:00:00Z');
    expect(runs.map((r) => new Date(r).toLocaleDateString('en-GB', { weekday: 'short', timeZone: VN }))).toEqual(['Mon', 'Wed', 'Fri']);
    expect(cronPattern({ type: 'weekly', time: '05:30', days: [7, 1] })).toBe('30 5 * * 0,1'); // Sunday is 7 for us, 0 for cron
  });

  it('monthly on the 31st skips months without one', () => {
    const runs = list({ type: 'monthly', time: '07:00', dayOfMonth: 31 }, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z');
    expect(runs.map((r) => localDate(new Date(r), VN))).toEqual(['2026-01-31', '2026-03-31', '2026-05-31', '2026-07-31', '2026-08-31', '2026-10-31', '2026-12-31']);
  });

  it('29 February happens only in leap years', () => {
    const runs = list({ type: 'monthly', time: '07:00', dayOfMonth: 29 }, '2027-01-01T00:00:00Z', '2029-01-01T00:00:00Z');
    expect(runs.filter((r) => localDate(new Date(r), VN).endsWith('-02-29'))).toEqual(['2028-02-29T00:00:00.000Z']);
    expect(runs).toHaveLength(23); // every month of 2027 and 2028 but February 2027
  });

  it('keeps to valid-from / valid-to (local dates) and leaves out skipped dates', () => {
    const r: Recurrence = { type: 'daily', time: '06:00', validFrom: '2026-12-01', validTo: '2026-12-05', skipDates: ['2026-12-03'] };
    const runs = list(r, '2026-11-25T00:00:00Z', '2026-12-31T00:00:00Z').map((x) => localDate(new Date(x), VN));
    expect(runs).toEqual(['2026-12-01', '2026-12-02', '2026-12-04', '2026-12-05']);
  });

  it('never starts before the schedule start', () => {
    const runs = list({ type: 'daily', time: '06:00' }, '2026-11-20T00:00:00Z', '2026-11-25T00:00:00Z', '2026-11-23T00:00:00Z');
    expect(runs[0]).toBe('2026-11-23T23:00:00.000Z');
  });

  it('follows the area timezone', () => {
    expect(list({ type: 'daily', time: '06:00' }, '2026-11-22T00:00:00Z', '2026-11-23T00:00:00Z', '2026-11-22T00:00:00Z', 'Asia/Tokyo')).toEqual(['2026-11-22T21:00:00.000Z']);
  });

  it('takes cron expressions for power users', () => {
    const runs = list({ type: 'cron', cron: '0 6,17 * * 1-5' }, '2026-11-23T00:00:00Z', '2026-11-24T00:00:00Z');
    expect(runs.map((r) => new Date(r).toLocaleTimeString('en-GB', { timeZone: VN, hour: '2-digit', minute: '2-digit' }))).toEqual(['17:00', '06:00']);
  });

  it('refuses bad input with a reason in both languages', () => {
    for (const bad of [
      { type: 'daily', time: '25:00' },
      { type: 'weekly', time: '06:00', days: [0] },
      { type: 'monthly', time: '06:00', dayOfMonth: 32 },
      { type: 'cron', cron: '61 * * * *' },
      { type: 'daily', time: '06:00', validFrom: '2026-12-10', validTo: '2026-12-01' },
      { type: 'daily', time: '06:00', skipDates: ['tomorrow'] },
    ] as Recurrence[]) {
      expect(() => validateRecurrence(bad, VN), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'LOA_ERR_INVALID', messageVi: expect.stringContaining('lịch lặp') }));
    }
  });
});
