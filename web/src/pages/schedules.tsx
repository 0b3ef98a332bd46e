/**
 * Schedules for commune operators: pick a recording, a bulletin or a live source, say when
 * (once, daily, weekly, monthly or a cron expression, until a date), and see before saving how
 * many speakers it reaches and any quiet-hour or conflict problem. Edit or delete schedules,
 * approve what waits (the approval queue), and see the week's calendar of an area or a speaker.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, ContentItem, Device, Me, NewSchedule, Recurrence, Schedule, ScheduleCheck, StreamSource, TimelinePlay } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';
import { AreaPicker, may, type Notice, NoticeLine, treeOrder, useAreasAndDevices } from './shared.js';
import { localInput, localTime } from '../dates.js';
import { BulletinList } from './bulletins.js';

interface Props {
  api: Api;
  me: Me | null;
  /** `/schedules/new/<contentId>` opens the form with that recording chosen. */
  route: string;
  onUnauthorized: () => void;
}

const DAY = 86400_000;

type Kind = 'once' | 'daily' | 'weekly' | 'monthly' | 'cron';

/** The form's fields: what the operator edits. */
interface Form {
  title: string;
  /** Target areas (the schedule plays on every speaker in them and below). */
  areaIds: string[];
  source: string; // `content:<id>` or `stream:<id>`
  streamMinutes: number;
  start: string; // datetime-local
  kind: Kind;
  days: number[];
  dayOfMonth: number;
  cron: string;
  until: string; // YYYY-MM-DD or ''
  skipDates: string[]; // holidays: no play on these days
  repeat: number;
  priority: 'normal' | 'priority';
}

const emptyForm = (areaId: string): Form => ({
  title: '',
  areaIds: [areaId],
  source: '',
  streamMinutes: 30,
  start: localInput(new Date(Date.now() + 3600_000)),
  kind: 'once',
  days: [],
  dayOfMonth: 1,
  cron: '0 6 * * 1-5',
  until: '',
  skipDates: [],
  repeat: 1,
  priority: 'normal',
});

/** A new schedule's form, with a recording already chosen when coming from the library. */
const newForm = (areaId: string, item: ContentItem | undefined): Form => (item ? { ...emptyForm(areaId), title: item.title, source: `content:${item.id}` } : emptyForm(areaId));

function formOf(s: Schedule, streams: StreamSource[]): Form {
  const item = s.items[0];
  const stream = item && 'streamUrl' in item ? streams.find((x) => x.url === item.streamUrl) : undefined;
  const r = s.recurrence;
  return {
    title: s.title,
    areaIds: s.targets.areaIds.length ? s.targets.areaIds : [s.areaId],
    source: item && 'contentId' in item ? `content:${item.contentId}` : stream ? `stream:${stream.id}` : '',
    streamMinutes: item && 'durationSec' in item ? Math.round(item.durationSec / 60) : 30,
    start: localInput(new Date(s.start)),
    kind: r?.type ?? 'once',
    days: r?.type === 'weekly' ? r.days : [],
    dayOfMonth: r?.type === 'monthly' ? r.dayOfMonth : 1,
    cron: r?.type === 'cron' ? r.cron : '0 6 * * 1-5',
    until: r?.validTo ?? '',
    skipDates: r?.skipDates ?? [],
    repeat: s.repeat.count,
    priority: s.priority === 'priority' ? 'priority' : 'normal',
  };
}

/**
 * The API body for a form, or null while it is incomplete. The schedule belongs to its one
 * target area (whose approval rule applies), or to the user's own area when it has several.
 */
function scheduleOf(f: Form, streams: StreamSource[], ownArea: string): NewSchedule | null {
  if (!f.title.trim() || !f.source || f.areaIds.length === 0 || !f.start) return null;
  const at = new Date(f.start);
  if (Number.isNaN(at.getTime())) return null;
  const time = localTime(at);
  const dates = { ...(f.until ? { validTo: f.until } : {}), ...(f.skipDates.length ? { skipDates: [...f.skipDates].sort() } : {}) };
  const recurrence: Recurrence | null =
    f.kind === 'daily'
      ? { type: 'daily', time, ...dates }
      : f.kind === 'weekly'
        ? { type: 'weekly', time, days: f.days.length ? [...f.days].sort() : [((at.getDay() + 6) % 7) + 1], ...dates }
        : f.kind === 'monthly'
          ? { type: 'monthly', time, dayOfMonth: f.dayOfMonth, ...dates }
          : f.kind === 'cron'
            ? { type: 'cron', cron: f.cron.trim(), ...dates }
            : null;
  const [type, id] = f.source.split(':') as [string, string];
  const stream = type === 'stream' ? streams.find((s) => s.id === id) : undefined;
  if (type === 'stream' && !stream) return null;
  const items = stream ? [{ streamUrl: stream.url, durationSec: Math.max(1, f.streamMinutes) * 60 }] : [{ contentId: id }];
  return { title: f.title.trim(), areaId: f.areaIds.length === 1 ? f.areaIds[0]! : ownArea, items, targets: { areaIds: f.areaIds, deviceIds: [] }, start: at.toISOString(), recurrence, repeat: { count: f.repeat, gapSec: 5 }, priority: f.priority };
}

export function SchedulesPage({ api, me, route, onUnauthorized }: Props) {
  const chosenContent = /^\/schedules\/new\/([^/]+)$/.exec(route)?.[1];
  const { t, lang, locale } = useT();
  const { areas, devices } = useAreasAndDevices(api, onUnauthorized);
  const [content, setContent] = useState<ContentItem[]>([]);
  const [streams, setStreams] = useState<StreamSource[]>([]);
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [editing, setEditing] = useState<Schedule | null>(null);
  const [message, setMessage] = useState<Notice>(null);
  const fail = (err: unknown) => setMessage({ error: true, text: messageOf(err, lang) });
  const reload = () => Promise.all([api.content(), api.streams(), api.schedules()]).then(([c, st, s]) => (setContent(c), setStreams(st.sources), setSchedules(s)), fail);
  useEffect(() => void reload(), [api]);

  const act = async (what: () => Promise<unknown>) => {
    setMessage(null);
    try {
      await what();
      await reload();
    } catch (err) {
      fail(err);
    }
  };
  const remove = (s: Schedule) => confirm(t.confirmDelete(s.title)) && void act(() => api.deleteSchedule(s.id));
  const canApprove = may(me, 'schedules:approve');
  const canWrite = may(me, 'schedules:write');
  const pending = schedules.filter((s) => s.status === 'pending');
  const summary = (s: Schedule) => {
    const r = s.recurrence;
    const when = new Date(s.start).toLocaleString(locale, { dateStyle: 'short', timeStyle: 'short' });
    if (!r) return `${t.once} · ${when}`;
    const time = 'time' in r ? r.time : r.cron;
    const what = r.type === 'weekly' ? `${t.weekly} (${r.days.map((d) => t.weekdays[d - 1]).join(', ')})` : r.type === 'monthly' ? t.monthlyOn(r.dayOfMonth) : r.type === 'cron' ? t.cronKind : t.daily;
    return `${what} · ${time}${r.validTo ? ` · ${t.until} ${r.validTo}` : ''}`;
  };

  const row = (s: Schedule) => (
    <tr key={s.id} id={`schedule-${s.id}`} data-status={s.status}>
      <th scope="row">{s.title}</th>
      <td>{summary(s)}</td>
      <td>{(s.targets.areaIds.length ? s.targets.areaIds : [s.areaId]).map((id) => areas.find((a) => a.id === id)?.name ?? '').join(', ')}</td>
      <td>{t.priorities[s.priority]}</td>
      <td>{s.status === 'approved' ? t.approved : t.pending}</td>
      <td class="row">
        {s.status === 'pending' && canApprove && <button type="button" onClick={() => void act(() => api.approve(s.id))}>{t.approve}</button>}
        {canWrite && <button type="button" class="link" onClick={() => (setEditing(s), scrollTo({ top: 0 }))}>{t.edit}</button>}
        {canWrite && <button type="button" class="link" onClick={() => remove(s)}>{t.delete}</button>}
      </td>
    </tr>
  );

  return (
    <div class="stack">
      <NoticeLine notice={message} card />
      {canWrite && me && (
        <ScheduleForm
          key={editing?.id ?? `new-${chosenContent && content.some((c) => c.id === chosenContent) ? chosenContent : ''}`}
          api={api}
          me={me}
          areas={areas}
          devices={devices ?? []}
          content={content}
          streams={streams}
          initial={editing ? formOf(editing, streams) : newForm(me.areaId, content.find((c) => c.id === chosenContent))}
          editingId={editing?.id ?? null}
          onSaved={(s) => {
            setEditing(null);
            if (chosenContent) location.hash = '#/schedules';
            setMessage({ error: false, text: s.status === 'pending' ? `${t.saved} ${t.waitsApproval}` : t.saved });
            void reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      <section class="card stack" aria-labelledby="queue-title">
        <h2 id="queue-title">
          {t.approveQueue} ({pending.length})
        </h2>
        {pending.length === 0 ? <p>{t.nothingPending}</p> : <table data-testid="queue"><tbody>{pending.map(row)}</tbody></table>}
      </section>
      <section class="card stack scroll" tabIndex={0} aria-label={t.schedulesList}>
        <h2>{t.schedulesList}</h2>
        <table data-testid="schedules">
          <tbody>{schedules.map(row)}</tbody>
        </table>
      </section>
      <BulletinList api={api} areas={areas} version={schedules.map((s) => s.id + s.status).join()} />
      <Calendar api={api} areas={areas} devices={devices ?? []} defaultArea={me?.areaId ?? ''} version={schedules.map((s) => s.id + s.status + s.start).join()} />
    </div>
  );
}

function ScheduleForm(props: { api: Api; me: Me; areas: Area[]; devices: Device[]; content: ContentItem[]; streams: StreamSource[]; initial: Form; editingId: string | null; onSaved: (s: Schedule) => void; onCancel: () => void }) {
  const { api, me, areas, devices, content, streams, editingId } = props;
  const { t, lang, locale } = useT();
  const [f, setF] = useState<Form>(props.initial);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setF((x) => ({ ...x, [k]: v }));
  const [check, setCheck] = useState<ScheduleCheck | null>(null);
  const [checkError, setCheckError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const body = useMemo(() => scheduleOf(f, streams, me.areaId), [f, streams, me.areaId]);

  // Before saving: what it would do and what would stop it, asked half a second after the last change.
  useEffect(() => {
    setCheck(null);
    setCheckError(null);
    if (!body) return;
    let current = true;
    const timer = setTimeout(() => {
      api.checkSchedule(body, editingId ?? undefined).then(
        (c) => current && setCheck(c),
        (err: unknown) => current && setCheckError(messageOf(err, lang)),
      );
    }, 500);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [api, JSON.stringify(body), editingId]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!body) return;
    setError(null);
    try {
      props.onSaved(editingId ? await api.updateSchedule(editingId, body) : await api.createSchedule(body));
    } catch (err) {
      setError(messageOf(err, lang));
    }
  };

  const isStream = f.source.startsWith('stream:');
  return (
    <form class="card stack" onSubmit={(e) => void save(e)} aria-labelledby="schedule-form-title">
      <h1 id="schedule-form-title">{editingId ? t.editSchedule : t.newSchedule}</h1>
      <div class="row filters">
        <label class="grow">
          {t.alertTitle}
          <input name="schedule-title" required maxLength={200} value={f.title} onInput={(e) => set('title', e.currentTarget.value)} />
        </label>
        <label class="grow">
          {t.content}
          <select name="content" required value={f.source} onChange={(e) => set('source', e.currentTarget.value)}>
            <option value="" />
            {/* An empty group is only a heading with nothing under it (issue 14). */}
            {content.length > 0 && (
              <optgroup label={t.library}>
                {content.map((c) => (
                  <option key={c.id} value={`content:${c.id}`}>{c.title} ({Math.round(c.durationMs / 1000)} s)</option>
                ))}
              </optgroup>
            )}
            {streams.length > 0 && (
              <optgroup label={t.streamSources}>
                {streams.map((s) => (
                  <option key={s.id} value={`stream:${s.id}`}>{t.relay}: {s.name}</option>
                ))}
              </optgroup>
            )}
          </select>
        </label>
        {content.length === 0 && streams.length === 0 && (
          <p class="warn">
            <a href="#/content">{t.noContentYet}</a>
          </p>
        )}
        {isStream && (
          <label class="short">
            {t.relayMinutes}
            <input type="number" name="stream-minutes" min={1} max={720} value={f.streamMinutes} onInput={(e) => set('streamMinutes', Number(e.currentTarget.value) || 1)} />
          </label>
        )}
      </div>
      <AreaPicker areas={areas} devices={devices} chosen={f.areaIds} onChange={(v) => set('areaIds', v)} />
      <fieldset class="row filters">
        <legend>{t.when}</legend>
        <label>
          {t.startAt}
          <input type="datetime-local" name="start" required value={f.start} onInput={(e) => set('start', e.currentTarget.value)} />
        </label>
        <label>
          {t.recurrence}
          <select name="recurrence" value={f.kind} onChange={(e) => set('kind', e.currentTarget.value as Kind)}>
            <option value="once">{t.once}</option>
            <option value="daily">{t.daily}</option>
            <option value="weekly">{t.weekly}</option>
            <option value="monthly">{t.monthly}</option>
            <option value="cron">{t.cronKind}</option>
          </select>
        </label>
        {f.kind === 'weekly' && (
          <fieldset class="row">
            <legend>{t.onDays}</legend>
            {t.weekdays.map((d, i) => (
              <label key={d} class="check">
                <input type="checkbox" checked={f.days.includes(i + 1)} onChange={(e) => set('days', e.currentTarget.checked ? [...f.days, i + 1] : f.days.filter((x) => x !== i + 1))} />
                {d}
              </label>
            ))}
          </fieldset>
        )}
        {f.kind === 'monthly' && (
          <label class="short">
            {t.dayOfMonth}
            <input type="number" name="day-of-month" min={1} max={31} value={f.dayOfMonth} onInput={(e) => set('dayOfMonth', Number(e.currentTarget.value) || 1)} />
          </label>
        )}
        {f.kind === 'cron' && (
          <label>
            {t.cronKind}
            <input name="cron" required value={f.cron} aria-describedby="cron-help" onInput={(e) => set('cron', e.currentTarget.value)} />
            <small id="cron-help">{t.cronHelp}</small>
          </label>
        )}
        {f.kind !== 'once' && (
          <label>
            {t.until}
            <input type="date" name="until" value={f.until} onInput={(e) => set('until', e.currentTarget.value)} />
          </label>
        )}
        {f.kind !== 'once' && <SkipDates dates={f.skipDates} onChange={(d) => set('skipDates', d)} />}
        <label class="short">
          {t.repeat}
          <input type="number" name="repeat" min={1} max={10} value={f.repeat} onInput={(e) => set('repeat', Number(e.currentTarget.value) || 1)} />
        </label>
        <label>
          {t.priority}
          <select name="priority" value={f.priority} onChange={(e) => set('priority', e.currentTarget.value as Form['priority'])}>
            <option value="normal">{t.priorities['normal']}</option>
            <option value="priority">{t.priorities['priority']}</option>
          </select>
        </label>
      </fieldset>
      <div role="status" aria-live="polite" data-testid="schedule-check" class="check-result">
        {check && (
          <>
            <p>
              {t.checkSummary(check.devices, check.plays)}
              {check.firstPlayAt ? ` ${t.firstPlay} ${new Date(check.firstPlayAt).toLocaleString(locale, { dateStyle: 'short', timeStyle: 'short' })}.` : ''}
              {check.approval === 'needed' ? ` ${t.waitsApproval}` : ''}
            </p>
            {check.problems.map((p) => (
              <p key={p.code} class="warn" data-testid="schedule-problem">⚠ {lang === 'vi' ? p.messageVi : p.message}</p>
            ))}
          </>
        )}
        {checkError && <p class="warn" data-testid="schedule-problem">⚠ {checkError}</p>}
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <div class="row">
        <button type="submit" disabled={!body}>{t.saveSchedule}</button>
        {editingId && <button type="button" onClick={props.onCancel}>{t.cancel}</button>}
      </div>
    </form>
  );
}

/** Days the recurrence skips (holidays, Tết): picked one by one, each removable. */
function SkipDates({ dates, onChange }: { dates: string[]; onChange: (dates: string[]) => void }) {
  const { t } = useT();
  const [day, setDay] = useState('');
  return (
    <fieldset class="row">
      <legend>{t.skipDates}</legend>
      {dates.map((d) => (
        <button key={d} type="button" class="chip" aria-label={t.removeDate(d)} onClick={() => onChange(dates.filter((x) => x !== d))}>
          {d} ✕
        </button>
      ))}
      <input type="date" name="skip-date" aria-label={t.skipDates} value={day} onInput={(e) => setDay(e.currentTarget.value)} />
      <button type="button" disabled={!day || dates.includes(day)} onClick={() => (onChange([...dates, day]), setDay(''))}>{t.addDate}</button>
    </fieldset>
  );
}

/** A week, a column per day, of an area's programme or one speaker's; previous and next weeks. */
function Calendar({ api, areas, devices, defaultArea, version }: { api: Api; areas: Area[]; devices: { id: string; name: string }[]; defaultArea: string; version: string }) {
  const { t, locale } = useT();
  const [target, setTarget] = useState('');
  const [week, setWeek] = useState(0);
  const [plays, setPlays] = useState<TimelinePlay[]>([]);
  const chosen = target || (defaultArea ? `area:${defaultArea}` : '');
  const monday = useMemo(() => {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    d.setDate(d.getDate() - ((d.getDay() + 6) % 7) + week * 7);
    return d;
  }, [week]);
  useEffect(() => {
    if (!chosen) return;
    const [kind, id] = chosen.split(':') as [string, string];
    const from = monday.toISOString();
    const to = new Date(monday.getTime() + 7 * DAY).toISOString();
    (kind === 'area' ? api.areaTimeline(id, from, to) : api.timeline(id, from, to)).then(setPlays, () => setPlays([]));
  }, [api, chosen, monday, version]);
  const days = Array.from({ length: 7 }, (_, i) => {
    const d = new Date(monday);
    d.setDate(d.getDate() + i);
    const next = new Date(d);
    next.setDate(next.getDate() + 1);
    return { key: d.toISOString(), label: d.toLocaleDateString(locale, { weekday: 'short', day: 'numeric', month: 'numeric' }), today: d.toDateString() === new Date().toDateString(), plays: plays.filter((p) => Date.parse(p.startAt) >= d.getTime() && Date.parse(p.startAt) < next.getTime()) };
  });
  return (
    <section class="card stack" aria-labelledby="calendar-title">
      <h2 id="calendar-title">{t.week}</h2>
      <div class="row filters">
        <label>
          {t.calendarOf}
          <select name="calendar-of" value={chosen} onChange={(e) => setTarget(e.currentTarget.value)}>
            <optgroup label={t.area}>
              {treeOrder(areas).map(({ area, depth }) => (
                <option key={area.id} value={`area:${area.id}`}>{'\u00a0\u00a0'.repeat(depth) + area.name}</option>
              ))}
            </optgroup>
            {devices.length > 0 && (
              <optgroup label={t.devices}>
                {devices.map((d) => (
                  <option key={d.id} value={`device:${d.id}`}>{d.name}</option>
                ))}
              </optgroup>
            )}
          </select>
        </label>
        <button type="button" onClick={() => setWeek(week - 1)} aria-label={t.prevWeek}>←</button>
        <button type="button" onClick={() => setWeek(0)}>{t.thisWeek}</button>
        <button type="button" onClick={() => setWeek(week + 1)} aria-label={t.nextWeek}>→</button>
      </div>
      <div class="week" data-testid="week">
        {days.map((d) => (
          <div key={d.key} class={d.today ? 'day today' : 'day'}>
            <h3>{d.label}</h3>
            {d.plays.map((p) => (
              <p key={p.playId} class={`play ${p.scheduleStatus} ${p.priority ?? ''}`} title={p.devices !== undefined ? t.speakers(p.devices) : undefined}>
                <time dateTime={p.startAt}>{new Date(p.startAt).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })}</time> {p.scheduleTitle}
                {p.scheduleStatus === 'pending' && <small> ({t.pending})</small>}
              </p>
            ))}
          </div>
        ))}
      </div>
    </section>
  );
}
