/** Report acks coalesced per device (issue 16): what goes out, and in how many messages. */
import { describe, expect, it } from 'vitest';
import { MAX_REPORTS_PER_ACK, type ReportAck } from '@loalang/protocol';
import { ReportAcks } from '../src/mqtt/report-acks.js';

function setup() {
  const sent: { deviceId: string; ack: ReportAck }[] = [];
  const acks = new ReportAcks(async (deviceId, ack) => {
    sent.push({ deviceId, ack });
  });
  return { acks, sent };
}

describe('ReportAcks', () => {
  it('sends what is due at the end of the turn, per device, at most MAX_REPORTS_PER_ACK ids a message', async () => {
    const { acks, sent } = setup();
    acks.setAcceptsMany('many', true);
    const ids = Array.from({ length: MAX_REPORTS_PER_ACK + 2 }, (_, i) => `r${i}`);
    for (const id of ids) acks.ack('many', id);
    acks.ack('one', 'x1');
    acks.ack('one', 'x2');
    expect(sent).toEqual([]); // nothing before the turn ends
    await new Promise((r) => setImmediate(r));
    const toMany = sent.filter((s) => s.deviceId === 'many').map((s) => s.ack);
    expect(toMany).toHaveLength(2);
    expect([toMany[0]!.reportId, ...toMany[0]!.moreReportIds!]).toEqual(ids.slice(0, MAX_REPORTS_PER_ACK));
    expect(toMany[1]).toEqual({ v: 1, reportId: ids[MAX_REPORTS_PER_ACK], moreReportIds: [ids[MAX_REPORTS_PER_ACK + 1]] });
    expect(sent.filter((s) => s.deviceId === 'one').map((s) => s.ack)).toEqual([
      { v: 1, reportId: 'x1' },
      { v: 1, reportId: 'x2' },
    ]);
  });

  it('a lone report gets a plain ack, and flush sends at once what waits (an orderly stop)', async () => {
    const { acks, sent } = setup();
    acks.setAcceptsMany('many', true);
    acks.ack('many', 'r1');
    await acks.flush();
    expect(sent).toEqual([{ deviceId: 'many', ack: { v: 1, reportId: 'r1' } }]);
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(1); // nothing sent twice
    acks.setAcceptsMany('many', false);
    acks.ack('many', 'r2');
    acks.ack('many', 'r3');
    await acks.flush();
    expect(sent.slice(1).map((s) => s.ack)).toEqual([
      { v: 1, reportId: 'r2' },
      { v: 1, reportId: 'r3' },
    ]);
  });
});
