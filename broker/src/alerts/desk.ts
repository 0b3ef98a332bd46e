/**
 * Alerts as a caller sees them (issue 15: these rules sat in the console's routes): issuing one
 * from text (spoken and kept with the alert) or recorded audio, only to targets in the caller's
 * areas; seeing an alert only when it targets one of them, with the deliveries of their own
 * speakers; cancelling. The fan-out itself is AlertService's.
 */
import type { Clock } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
import type { ContentLibrary } from '../content/library.js';
import type { DeviceRepo } from '../devices/devices.js';
import { canReadFromArea, checkTargets, deviceInScope, targetsVisible, type Caller, type Targets } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import { totalsOf, type Alert, type AlertPriority } from './alerts.js';
import type { AlertService } from './service.js';

/** What a caller asks for: the body of `POST /alerts`. */
export interface AlertInput {
  title?: string;
  /** Spoken by the speech engine; or give `contentId`, never both. */
  text?: string;
  voice?: string;
  contentId?: string;
  targets: Targets;
  repeat?: number;
  gapSec?: number;
  volume?: number;
  expiresAt?: string;
  priority?: AlertPriority;
  replaces?: string;
}

export interface AlertDeskDeps {
  alerts: AlertService;
  areas: AreaRepo;
  devices: DeviceRepo;
  content: ContentRepo;
  library: ContentLibrary;
  clock: Clock;
}

export class AlertDesk {
  constructor(private readonly d: AlertDeskDeps) {}

  /** Speaks or finds the audio, checks every target, and sends the alert now. */
  async issue(caller: Caller, input: AlertInput) {
    if (!input.text === !input.contentId) throw brokerError('LOA_ERR_INVALID', { en: 'give either text or contentId', vi: 'cần nhập text hoặc contentId (chỉ một trong hai)' });
    const targets = await checkTargets(this.d, caller, input.targets);
    if (input.replaces) await this.requireVisible(caller, input.replaces);
    if (input.expiresAt && Date.parse(input.expiresAt) <= this.d.clock.now()) throw brokerError('LOA_ERR_INVALID', { en: 'expiresAt is in the past', vi: 'thời điểm hết hạn đã qua' });
    let contentId = input.contentId;
    if (contentId) {
      if (!(await canReadFromArea(this.d.areas, caller, (await this.d.content.require(contentId)).areaId))) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    } else {
      const title = input.title ?? input.text!.slice(0, 80);
      contentId = (await this.d.library.speak(input.text!, { title, areaId: caller.user.areaId, createdBy: caller.user.id, voice: input.voice ?? 'vi', kind: 'alert' })).id;
    }
    const alert = await this.d.alerts.create({
      title: input.title ?? (input.text ?? (await this.d.content.require(contentId)).title).slice(0, 200),
      text: input.text ?? null,
      contentId,
      priority: input.priority ?? 'emergency',
      targets,
      repeat: input.repeat ?? 1,
      gapMs: (input.gapSec ?? 3) * 1000,
      volume: input.volume ?? null,
      expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
      replaces: input.replaces ?? null,
      cap: null,
      createdBy: caller.user.id,
    });
    // Every target is in the caller's scope (checked above), so the totals need no filtering.
    return this.d.alerts.summary(alert.id);
  }

  /** The caller's alerts, newest first, with delivery totals. */
  async list(caller: Caller, limit: number) {
    const mine = await deviceInScope(this.d.devices, caller);
    const visible = (await this.d.alerts.repo.list(5000)).filter((a) => targetsVisible(caller, a.targets, mine)).slice(0, limit);
    const summaries = [];
    for (const a of visible) summaries.push(await this.d.alerts.summary(a.id));
    return summaries;
  }

  /** The alert, if the caller may see it: it targets one of their areas or devices. */
  async requireVisible(caller: Caller, id: string): Promise<Alert> {
    const alert = await this.d.alerts.repo.require(id);
    if (!targetsVisible(caller, alert.targets, await deviceInScope(this.d.devices, caller))) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return alert;
  }

  /** The alert with the deliveries of the caller's own devices and their totals. */
  async view(caller: Caller, id: string) {
    await this.requireVisible(caller, id);
    return this.scopedView(caller, id);
  }

  /** Stops it everywhere, if every target is the caller's. */
  async cancel(caller: Caller, id: string) {
    const alert = await this.requireVisible(caller, id);
    await checkTargets(this.d, caller, alert.targets);
    await this.d.alerts.cancel(alert.id);
    return this.scopedView(caller, alert.id);
  }

  /** As view, for an alert already known to be visible (CAP ingest's results). */
  async scopedView(caller: Caller, id: string) {
    const view = await this.d.alerts.view(id);
    const mine = await deviceInScope(this.d.devices, caller);
    const deliveries = view.deliveries.filter((x) => mine(x.deviceId));
    return { ...view, deliveries, totals: totalsOf(deliveries) };
  }
}
