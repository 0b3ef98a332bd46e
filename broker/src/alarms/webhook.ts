/**
 * Tells the outside world about alarms: a POST to a configured URL on every raise and clear,
 * so a province can route them to its chat groups (Zalo, Telegram, Slack bridges). The body is
 * a template with `{{name}}` placeholders; values are JSON-escaped (no quotes added), so a JSON
 * template stays valid JSON. Sending never blocks the server; a failed POST is retried three
 * times (1 s, 5 s, 25 s) and then logged.
 */
import type { Logger } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { DeviceRepo } from '../devices/devices.js';
import { ALARM_LABELS, type AlarmChange } from './alarms.js';

export const DEFAULT_WEBHOOK_TEMPLATE =
  '{"event":"{{event}}","kind":"{{kind}}","alarmId":"{{alarmId}}","deviceId":"{{deviceId}}","device":"{{deviceName}}","area":"{{areaName}}","at":"{{at}}","detail":"{{detail}}","text":"{{text}}"}';

export interface WebhookOptions {
  url: string;
  template?: string;
  contentType?: string;
  timeoutMs?: number;
  retryDelaysMs?: number[];
}

const jsonEscape = (s: string) => JSON.stringify(s).slice(1, -1);

export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (whole, name: string) => (name in values ? jsonEscape(values[name]!) : whole));
}

export class AlarmWebhook {
  constructor(
    private readonly o: WebhookOptions,
    private readonly d: { devices: DeviceRepo; areas: AreaRepo; logger: Logger },
  ) {}

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
    void this.valuesOf(change).then(
      (values) => this.send(renderTemplate(this.o.template ?? DEFAULT_WEBHOOK_TEMPLATE, values), change),
      (err: unknown) => this.d.logger.error({ err, alarmId: change.alarm.id, event: change.type }, 'alarm webhook not sent: its device could not be read'),
    );
  }

  private async send(body: string, change: AlarmChange): Promise<void> {
    const delays = this.o.retryDelaysMs ?? [1000, 5000, 25_000];
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(this.o.url, {
          method: 'POST',
          headers: { 'content-type': this.o.contentType ?? 'application/json' },
          body,
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) return;
        throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        if (attempt >= delays.length) {
          this.d.logger.error({ err: (err as Error).message, alarmId: change.alarm.id, event: change.type }, 'alarm webhook failed');
          return;
        }
        await new Promise((r) => setTimeout(r, delays[attempt]));
      }
    }
  }
}
