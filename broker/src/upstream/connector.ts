/**
 * The upstream reporting connector (issue 21, item 3): sends the province's HTTTN the registry of
 * speaker clusters, the programmes, each day's broadcast results per item, alert deliveries and
 * the outcomes of the bulletins it sent, on a schedule and on demand. Everything goes through the
 * outbox's `upstream` channel (decision 0030): written first, sent in order by the leader,
 * retried until the HTTTN takes it, so nothing is lost while it is down, and each request keeps
 * one delivery id across retries so it can drop what it already has.
 *
 * A snapshot is written only when it differs from the last one written of its kind and scope
 * (the registry; the programmes; one day's results; one alert's deliveries): a tick with nothing
 * new sends nothing. Field names and envelopes come from the mapping (mapping.ts).
 */
import { createHash } from 'node:crypto';
import { every, type Clock, type ClockTimer, type Logger, type Repeating } from '@loalang/protocol';
import type { OutboxMessage, OutboxRepo, OutboxState } from '../outbox/outbox.js';
import type { OutboxSender, OutboxTarget } from '../outbox/sender.js';
import { signatureHeader, SIGNATURE_HEADER } from '../outbox/signature.js';
import { localDate } from '../schedules/recurrence.js';
import { brokerError } from '../errors.js';
import { redactUrl } from '../store/database.js';
import { RECORD_KINDS, requestBodies, type RecordKind, type UpstreamMapping } from './mapping.js';
import { alertDeliveryRecords, AreaIndex, previousDate, programmeRecords, registryRecords, resultRecords, type RecordSources } from './records.js';

export const UPSTREAM_CHANNEL = 'upstream';
/** Alerts this recent are reported (their deliveries change while they sound). */
const ALERT_WINDOW_MS = 2 * 24 * 3600_000;
/** A push names at most this many days of results. */
export const MAX_PUSH_DAYS = 31;

export interface UpstreamConfig {
  /** The HTTTN's base address; each kind's path is appended. */
  url: string;
  mapping: UpstreamMapping;
  /** Sent in the mapping's token header (default `Authorization: Bearer …`). */
  token?: string;
  /** Signs each body (HMAC-SHA256, `X-LoaLang-Signature` or the mapping's header). */
  hmacSecret?: string;
  /** The area whose subtree is reported (id or administrative code); default every top area. */
  area?: string;
  /** How often the schedule runs. */
  everyMs: number;
  /** This installation's name in envelopes ("$source"). */
  source: string;
}

export interface UpstreamDeps {
  sources: RecordSources;
  outbox: OutboxRepo;
  sender: OutboxSender;
  clock: Clock;
  logger: Logger;
  effectiveTimezone(areaId: string): Promise<string>;
}

export interface PushRequest {
  kinds?: RecordKind[];
  /** Local dates (YYYY-MM-DD) whose results are sent; default yesterday and the day before. */
  days?: string[];
}

export interface PushOutcome {
  kind: RecordKind;
  scope: string;
  records: number;
  /** Requests written to the outbox; 0 when nothing changed since the last one. */
  queued: number;
}

export interface UpstreamStatus {
  enabled: boolean;
  url: string | null;
  mapping: string | null;
  kinds: RecordKind[];
  everyMinutes: number | null;
  counts: Partial<Record<OutboxState, number>>;
  /** When the oldest message still waiting was written, and its last error. */
  oldestPendingAt: string | null;
  lastError: string | null;
  lastDeliveredAt: string | null;
}

/** A bulletin's outcome as the HTTTN hears it; the bulletin service's record. */
export interface OutcomeRecord {
  id: string;
  upstreamId: string;
  state: string;
  [field: string]: unknown;
}

const hashOf = (records: unknown[]) => createHash('sha256').update(JSON.stringify(records)).digest('hex').slice(0, 32);

export class UpstreamConnector {
  private timer: Repeating | null = null;
  private first: ClockTimer | null = null;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly d: UpstreamDeps,
    readonly config: UpstreamConfig,
  ) {
    d.sender.route(UPSTREAM_CHANNEL, async (_channel, m, at) => this.target(m, at));
  }

  get kinds(): RecordKind[] {
    return RECORD_KINDS.filter((k) => this.config.mapping.records[k]);
  }

  /** The schedule (on the leader): soon after it starts leading, then every `everyMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = every(this.d.clock, this.config.everyMs, () => this.tick());
    this.first = this.d.clock.setTimeout(() => this.tick(), 30_000);
  }

  stop(): void {
    this.timer?.stop();
    this.timer = null;
    if (this.first) this.d.clock.clearTimeout(this.first);
    this.first = null;
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = this.push({})
      .then((done) => {
        const queued = done.reduce((n, o) => n + o.queued, 0);
        if (queued) this.d.logger.info({ queued, kinds: done.filter((o) => o.queued).map((o) => `${o.kind}:${o.scope}`) }, 'upstream: changes written to the outbox');
      })
      .catch((err: unknown) => this.d.logger.error({ err }, 'upstream: the scheduled push failed; tried again at the next'))
      .finally(() => (this.ticking = null));
  }

  /** Writes what changed of the asked kinds to the outbox, and has it sent. */
  async push(req: PushRequest): Promise<PushOutcome[]> {
    const kinds = (req.kinds ?? this.kinds).filter((k) => k !== 'bulletinOutcomes');
    const missing = kinds.filter((k) => !this.config.mapping.records[k]);
    if (missing.length) {
      throw brokerError('LOA_ERR_INVALID', { en: `the mapping does not send ${missing.join(', ')}`, vi: `tệp ánh xạ không gửi ${missing.join(', ')}` });
    }
    const roots = await this.roots();
    const areas = await AreaIndex.of(this.d.sources, roots);
    const now = this.d.clock.now();
    const timeZone = await this.d.effectiveTimezone(roots[0] ?? '');
    const out: PushOutcome[] = [];
    for (const kind of kinds) {
      if (kind === 'registry') {
        // An online speaker's last sign of life moves with every telemetry: not a change worth sending.
        const records = await registryRecords(this.d.sources, areas);
        out.push(await this.write(kind, 'all', records, records.map((r) => (r.online ? { ...r, lastSeenAt: null } : r))));
      }
      if (kind === 'programmes') out.push(await this.write(kind, 'all', await programmeRecords(this.d.sources, areas)));
      if (kind === 'results') {
        const today = localDate(new Date(now), timeZone);
        const days = req.days ?? [previousDate(previousDate(today)), previousDate(today)];
        if (days.length > MAX_PUSH_DAYS || days.some((d) => !/^\d{4}-\d{2}-\d{2}$/.test(d))) {
          throw brokerError('LOA_ERR_INVALID', { en: `days must be up to ${MAX_PUSH_DAYS} dates YYYY-MM-DD`, vi: `days phải là tối đa ${MAX_PUSH_DAYS} ngày dạng YYYY-MM-DD` });
        }
        for (const day of days) out.push(await this.write(kind, day, await resultRecords(this.d.sources, areas, roots, day, timeZone)));
      }
      if (kind === 'alertDeliveries') {
        const devices = new Set((await this.d.sources.devices.list({ areaIds: areas.ids })).map((d) => d.id));
        for (const record of await alertDeliveryRecords(this.d.sources, areas, now - ALERT_WINDOW_MS, devices)) out.push(await this.write(kind, record.id, [record]));
      }
    }
    // On demand means now: what waits for its next attempt (the HTTTN was down) goes too.
    await this.d.outbox.hurry(UPSTREAM_CHANNEL);
    this.d.sender.kick();
    return out;
  }

  /** A bulletin's new state, for the HTTTN that sent it (once per state). */
  async reportOutcome(outcome: OutcomeRecord): Promise<void> {
    if (!this.config.mapping.records.bulletinOutcomes) return;
    const [body] = requestBodies(this.config.mapping, 'bulletinOutcomes', [outcome], { sentAt: new Date(this.d.clock.now()).toISOString(), source: this.config.source });
    await this.d.outbox.enqueue({ channel: UPSTREAM_CHANNEL, kind: 'bulletinOutcomes', body: body!, dedupeKey: `bulletinOutcomes|${outcome.id}|${outcome.state}` });
    this.d.sender.kick();
  }

  async status(): Promise<UpstreamStatus> {
    const counts = (await this.d.outbox.counts(UPSTREAM_CHANNEL))[UPSTREAM_CHANNEL] ?? {};
    const oldest = await this.d.outbox.oldestPending(UPSTREAM_CHANNEL);
    const [delivered] = await this.d.outbox.list({ channel: UPSTREAM_CHANNEL, state: 'delivered', limit: 1 });
    return {
      enabled: true,
      url: redactUrl(this.config.url),
      mapping: `${this.config.mapping.name}@${this.config.mapping.revision}`,
      kinds: this.kinds,
      everyMinutes: Math.round(this.config.everyMs / 60_000),
      counts,
      oldestPendingAt: oldest?.createdAt ?? null,
      lastError: oldest?.lastError ?? null,
      lastDeliveredAt: delivered?.deliveredAt ?? null,
    };
  }

  /** Writes a snapshot's requests unless the last one written of its kind and scope had the same records (as `compared`). */
  private async write(kind: RecordKind, scope: string, records: unknown[], compared: unknown[] = records): Promise<PushOutcome> {
    const hash = hashOf(compared);
    const prefix = `${kind}|${scope}|`;
    const last = await this.d.outbox.latestDedupeKey(UPSTREAM_CHANNEL, prefix);
    if (last?.startsWith(`${prefix}${hash}|`)) return { kind, scope, records: records.length, queued: 0 };
    const at = this.d.clock.now();
    const bodies = requestBodies(this.config.mapping, kind, records, { sentAt: new Date(at).toISOString(), source: this.config.source });
    let queued = 0;
    for (const [i, body] of bodies.entries()) {
      const { created } = await this.d.outbox.enqueue({ channel: UPSTREAM_CHANNEL, kind, body, dedupeKey: `${prefix}${hash}|${at}|${i + 1}` });
      if (created) queued++;
    }
    return { kind, scope, records: records.length, queued };
  }

  private async roots(): Promise<string[]> {
    const areas = await this.d.sources.areas.list();
    const wanted = this.config.area;
    if (!wanted) return areas.filter((a) => a.parentId === null).map((a) => a.id);
    const area = areas.find((a) => a.id === wanted || a.geocodes.includes(wanted));
    if (!area) throw brokerError('LOA_ERR_NOT_FOUND', { en: `LOALANG_UPSTREAM_AREA ${wanted}: no such area or code`, vi: `LOALANG_UPSTREAM_AREA ${wanted}: không có địa bàn hoặc mã này` });
    return [area.id];
  }

  /** Where a message goes, with its credentials made now. */
  private async target(m: OutboxMessage, at: number): Promise<OutboxTarget | null> {
    const spec = this.config.mapping.records[m.kind as RecordKind];
    if (!spec) return null;
    const auth = this.config.mapping.auth ?? {};
    const headers: Record<string, string> = { 'x-loalang-mapping': `${this.config.mapping.name}@${this.config.mapping.revision}`, 'x-loalang-kind': m.kind };
    if (this.config.token) headers[(auth.tokenHeader ?? 'Authorization').toLowerCase()] = `${auth.tokenPrefix ?? 'Bearer '}${this.config.token}`;
    if (this.config.hmacSecret) headers[(auth.signatureHeader ?? SIGNATURE_HEADER).toLowerCase()] = signatureHeader(this.config.hmacSecret, m.body, at);
    return { url: `${this.config.url.replace(/\/+$/, '')}${spec.path}`, headers, giveUpAfterMs: null };
  }
}
