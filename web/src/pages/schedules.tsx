/**
 * Schedules for commune operators: compose a bulletin read out by the speech engine and hear
 * it, schedule it (once, daily or weekly) with the server's conflict and quiet-hour checks,
 * approve what waits, and see the next seven days of one speaker.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, ContentItem, Me, Recurrence, Schedule, TimelinePlay } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';
import { AreaSelect, useAreasAndDevices } from './shared.js';

interface Props {
  api: Api;
  me: Me | null;
  onUnauthorized: () => void;
}

const pad = (n: number) => String(n).padStart(2, '0');
const localInput = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

export function SchedulesPage({ api, me, onUnauthorized }: Props) {
  const { t, lang, locale } = useT();
  const { areas, devices } = useAreasAndDevices(api, onUnauthorized);
  const [content, setContent] = useState<ContentItem[]>([]);
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const fail = (err: unknown) => setMessage({ error: true, text: messageOf(err, lang) });
  const reload = () => Promise.all([api.content(), api.schedules()]).then(([c, s]) => (setContent(c), setSchedules(s)), fail);
  useEffect(() => void reload(), [api]);

  // Bulletin
  const [bTitle, setBTitle] = useState('');
  const [bText, setBText] = useState('');
  const [preview, setPreview] = useState<string | null>(null);
  // Schedule
  const [title, setTitle] = useState('');
  const [areaId, setAreaId] = useState('');
  const [contentId, setContentId] = useState('');
  const [start, setStart] = useState(localInput(new Date(Date.now() + 3600_000)));
  const [kind, setKind] = useState<'once' | 'daily' | 'weekly'>('once');
  const [days, setDays] = useState<number[]>([]);
  const [repeat, setRepeat] = useState(1);
  const [priority, setPriority] = useState<'normal' | 'priority'>('normal');
  const area = areaId || me?.areaId || '';

  const makeBulletin = async (e: Event) => {
    e.preventDefault();
    setMessage(null);
    try {
      const item = await api.speak(bTitle.trim() || bText.slice(0, 60), bText, area);
      await reload();
      setContentId(item.id);
      if (!title) setTitle(item.title);
      setPreview(await api.audioUrl(item.id));
    } catch (err) {
      fail(err);
    }
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setMessage(null);
    const at = new Date(start);
    const time = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    const recurrence: Recurrence | null = kind === 'daily' ? { type: 'daily', time } : kind === 'weekly' ? { type: 'weekly', time, days: days.length ? days : [((at.getDay() + 6) % 7) + 1] } : null;
    try {
      await api.createSchedule({ title: title.trim(), areaId: area, items: [{ contentId }], targets: { areaIds: [area], deviceIds: [] }, start: at.toISOString(), recurrence, repeat: { count: repeat, gapSec: 5 }, priority });
      setMessage({ error: false, text: t.saved });
      await reload();
    } catch (err) {
      fail(err);
    }
  };

  const approve = async (id: string) => {
    try {
      await api.approve(id);
      await reload();
    } catch (err) {
      fail(err);
    }
  };

  const canApprove = me?.role === 'admin';
  const pending = schedules.filter((s) => s.status === 'pending');
  return (
    <div class="stack">
      {message && <p role={message.error ? 'alert' : 'status'} class={message.error ? 'error card' : 'card'}>{message.text}</p>}
      <form class="card stack" onSubmit={(e) => void makeBulletin(e)}>
        <h1>{t.bulletin}</h1>
        <label>
          {t.alertTitle}
          <input name="bulletin-title" value={bTitle} maxLength={200} onInput={(e) => setBTitle(e.currentTarget.value)} />
        </label>
        <label>
          {t.bulletinText}
          <textarea name="bulletin-text" rows={4} required maxLength={5000} value={bText} onInput={(e) => setBText(e.currentTarget.value)} />
        </label>
        <div class="row">
          <button type="submit">{t.makeAudio}</button>
          {preview && (
            <label class="inline">
              {t.preview}
              <audio controls src={preview} data-testid="preview" />
            </label>
          )}
        </div>
      </form>

      <form class="card row filters" onSubmit={(e) => void save(e)}>
        <h2>{t.newSchedule}</h2>
        <label>
          {t.alertTitle}
          <input name="schedule-title" required value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <AreaSelect areas={areas} value={area} onChange={setAreaId} all={false} />
        <label>
          {t.content}
          <select name="content" required value={contentId} onChange={(e) => setContentId(e.currentTarget.value)}>
            <option value="" />
            {content.map((c) => (
              <option key={c.id} value={c.id}>{c.title} ({Math.round(c.durationMs / 1000)} s)</option>
            ))}
          </select>
        </label>
        <label>
          {t.startAt}
          <input type="datetime-local" name="start" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label>
          {t.recurrence}
          <select name="recurrence" value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
            <option value="once">{t.once}</option>
            <option value="daily">{t.daily}</option>
            <option value="weekly">{t.weekly}</option>
          </select>
        </label>
        {kind === 'weekly' && (
          <fieldset class="row">
            <legend>{t.weekly}</legend>
            {t.weekdays.map((d, i) => (
              <label key={d} class="check">
                <input type="checkbox" checked={days.includes(i + 1)} onChange={(e) => setDays(e.currentTarget.checked ? [...days, i + 1] : days.filter((x) => x !== i + 1))} />
                {d}
              </label>
            ))}
          </fieldset>
        )}
        <label class="short">
          {t.repeat}
          <input type="number" name="repeat" min={1} max={10} value={repeat} onInput={(e) => setRepeat(Number(e.currentTarget.value) || 1)} />
        </label>
        <label>
          {t.priority}
          <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as typeof priority)}>
            <option value="normal">{t.priorities['normal']}</option>
            <option value="priority">{t.priorities['priority']}</option>
          </select>
        </label>
        <button type="submit">{t.saveSchedule}</button>
      </form>

      <section class="card stack">
        <h2>
          {t.schedulesList} · {t.approveQueue}: {pending.length}
        </h2>
        <table data-testid="schedules">
          <tbody>
            {schedules.map((s) => (
              <tr key={s.id} data-status={s.status}>
                <th scope="row">{s.title}</th>
                <td>{new Date(s.start).toLocaleString(locale)}</td>
                <td>{s.recurrence ? t[s.recurrence.type] : t.once}</td>
                <td>{t.priorities[s.priority]}</td>
                <td>{s.status === 'approved' ? t.approved : t.pending}</td>
                <td>{s.status === 'pending' && canApprove && <button type="button" onClick={() => void approve(s.id)}>{t.approve}</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <Week api={api} devices={devices ?? []} version={schedules.map((s) => s.id + s.status).join()} />
    </div>
  );
}

/** The next seven days of one speaker, a column per day (the calendar). */
function Week({ api, devices, version }: { api: Api; devices: { id: string; name: string }[]; version: string }) {
  const { t, locale } = useT();
  const [deviceId, setDeviceId] = useState('');
  const [plays, setPlays] = useState<TimelinePlay[]>([]);
  const id = deviceId || devices[0]?.id || '';
  useEffect(() => {
    if (!id) return;
    const from = new Date();
    from.setHours(0, 0, 0, 0);
    api.timeline(id, from.toISOString(), new Date(from.getTime() + 7 * 86400_000).toISOString()).then(setPlays, () => setPlays([]));
  }, [api, id, version]);
  const days = useMemo(() => {
    const out: { key: string; label: string; plays: TimelinePlay[] }[] = [];
    for (let i = 0; i < 7; i++) {
      const d = new Date();
      d.setHours(0, 0, 0, 0);
      d.setDate(d.getDate() + i);
      const next = new Date(d.getTime() + 86400_000);
      out.push({ key: d.toISOString(), label: d.toLocaleDateString(locale, { weekday: 'short', day: 'numeric', month: 'numeric' }), plays: plays.filter((p) => Date.parse(p.startAt) >= d.getTime() && Date.parse(p.startAt) < next.getTime()) });
    }
    return out;
  }, [plays, locale]);
  return (
    <section class="card stack">
      <h2>{t.week}</h2>
      <label>
        {t.weekFor}
        <select name="week-device" value={id} onChange={(e) => setDeviceId(e.currentTarget.value)}>
          {devices.map((d) => (
            <option key={d.id} value={d.id}>{d.name}</option>
          ))}
        </select>
      </label>
      <div class="week" data-testid="week">
        {days.map((d) => (
          <div key={d.key} class="day">
            <h3>{d.label}</h3>
            {d.plays.map((p) => (
              <p key={p.playId} class={`play ${p.scheduleStatus}`}>
                <time>{new Date(p.startAt).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })}</time> {p.scheduleTitle}
              </p>
            ))}
          </div>
        ))}
      </div>
    </section>
  );
}
