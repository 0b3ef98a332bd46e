/**
 * Tells the outside world about alarms: a POST to a configured URL on every raise and clear,
 * so a province can route them to its chat groups (Zalo, Telegram, Slack bridges). The body is
 * a template with `{{name}}` placeholders; values are JSON-escaped (no quotes added), so a JSON
 * template stays valid JSON. Each POST is written to the outbox's `alarm-webhook` channel
 * (decision 0030): sent in order by the leader, retried with doubling waits for a day, kept
 * through a restart (before issue 21: three tries in memory, then lost).
 */
import type { Logger } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { OutboxRepo } from '../outbox/outbox.js';
import type { OutboxSender } from '../outbox/sender.js';
import type { DeviceRepo } from '../devices/devices.js';
import { ALARM_LABELS, type AlarmChange } from './alarms.js';

export const DEFAULT_WEBHOOK_TEMPLATE =
  '{"event":"{{event}}","kind":"{{kind}}","alarmId":"{{alarmId}}","deviceId":"{{deviceId}}","device":"{{deviceName}}","area":"{{areaName}}","at":"{{at}}","detail":"{{detail}}","text":"{{text}}"}';

export interface WebhookOptions {
  url: string;
  template?: string;
  contentType?: string;
  timeoutMs?: number;
}

export const ALARM_WEBHOOK_CHANNEL = 'alarm-webhook';
/** A chat message about an alarm a day old is no longer worth sending. */
const GIVE_UP_AFTER_MS = 24 * 3600_000;

const jsonEscape = (s: string) => JSON.stringify(s).slice(1, -1);

export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (whole, name: string) => (name in values ? jsonEscape(values[name]!) : whole));
}

export class AlarmWebhook {
  constructor(
    private readonly o: WebhookOptions,
    private readonly d: { devices: DeviceRepo; areas: AreaRepo; logger: Logger; outbox: OutboxRepo; sender: OutboxSender },
  ) {
    d.sender.route(ALARM_WEBHOOK_CHANNEL, async () => ({ url: o.url, headers: { 'content-type': o.contentType ?? 'application/json' }, timeoutMs: o.timeoutMs ?? 10_000, giveUpAfterMs: GIVE_UP_AFTER_MS }));
  }

  async valuesOf(change: AlarmChange): Promise<Record<string, string>> {
    const { alarm } = change;
    const device = await this.d.devices.get(alarm.deviceId);
    const area = device ? await this.d.areas.get(device.areaId) : null;
    const label = ALARM_LABELS[alarm.kind];
    const at = change.type === 'raised' ? alarm.raisedAt : (alarm.clearedAt ?? alarm.raisedAt);
    const verb = change.type === 'raised' ? { vi: 'CẢNH BÁO', en: 'RAISED' } : { vi: 'ĐÃ HẾT', en: 'CLEARED' };
    const where = `${device?.name ?? alarm.deviceId}${area ? ` (${area.name})` : ''}`;
    return {
      event: change.type,
      kind: alarm.kind,
      alarmId: alarm.id,
      deviceId: alarm.deviceId,
      deviceName: device?.name ?? '',
      areaName: area?.name ?? '',
      at,
      detail: alarm.detail ?? '',
      labelVi: label.vi,
      labelEn: label.en,
      text: `[${verb.vi}] ${label.vi} — ${where} — ${at} / [${verb.en}] ${label.en}`,
    };
  }

  notify(change: AlarmChange): void {
    void this.valuesOf(change)
      .then((values) =>
        this.d.outbox.enqueue({
          channel: ALARM_WEBHOOK_CHANNEL,
          kind: `alarm-${change.type}`,
          body: renderTemplate(this.o.template ?? DEFAULT_WEBHOOK_TEMPLATE, values),
          dedupeKey: `${change.alarm.id}|${change.type}`,
        }),
      )
      .then(
        () => this.d.sender.kick(),
        (err: unknown) => this.d.logger.error({ err, alarmId: change.alarm.id, event: change.type }, 'alarm webhook not written to the outbox (its device or the database could not be read)'),
      );
  }
}
