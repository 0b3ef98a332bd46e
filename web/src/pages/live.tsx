/**
 * Phát trực tiếp (issue 18): tick the areas, see how many speakers will play, start speaking;
 * a level meter shows the microphone is live, each speaker's state shows as it changes, the
 * microphone can be muted, "Kết thúc" ends it everywhere. Below, recent announcements, each with
 * its report (how long each speaker played it) and its recording.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api, Area, Device, LiveDetail, LiveSession, LiveSpeaker, Me } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';
import { AreaPicker, may, Preview, subtree, useAreasAndDevices } from './shared.js';
import { micUnavailable, startMic, type Mic } from '../live-mic.js';

interface Props {
  api: Api;
  me: Me | null;
  route: string;
  onUnauthorized: () => void;
}

export function LivePage({ api, me, route, onUnauthorized }: Props) {
  const id = route.split('/')[2];
  const { areas, devices, error } = useAreasAndDevices(api, onUnauthorized);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (id) return <SessionReport api={api} id={id} devices={devices ?? []} />;
  const speaks = may(me, 'schedules:write') || may(me, 'alerts:write');
  // The list is read again when an announcement starts or ends here.
  const [changes, setChanges] = useState(0);
  return (
    <div class="stack">
      {speaks && <Studio api={api} me={me} areas={areas} devices={devices ?? []} onChange={() => setChanges((n) => n + 1)} />}
      <RecentSessions api={api} changes={changes} />
    </div>
  );
}

type Phase = 'idle' | 'starting' | 'on' | 'ending';

function Studio({ api, me, areas, devices, onChange }: { api: Api; me: Me | null; areas: Area[]; devices: Device[]; onChange: () => void }) {
  const { t, lang } = useT();
  const [title, setTitle] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const canPriority = may(me, 'schedules:write');
  const [priority, setPriority] = useState<'priority' | 'emergency'>(canPriority ? 'priority' : 'emergency');
  const [phase, setPhase] = useState<Phase>('idle');
  const [error, setError] = useState<string | null>(null);
  const [level, setLevel] = useState(0);
  const [muted, setMuted] = useState(false);
  const [speakers, setSpeakers] = useState<Map<string, LiveSpeaker>>(new Map());
  const [startedAt, setStartedAt] = useState<number | null>(null);
  const [now, setNow] = useState(Date.now());
  const [sessionId, setSessionId] = useState<string | null>(null);
  const mic = useRef<Mic | null>(null);
  const covered = useMemo(() => subtree(areas, chosen), [areas, chosen]);
  const targeted = devices.filter((d) => covered.has(d.areaId) && !d.disabled);
  const online = targeted.filter((d) => d.online).length;
  const names = useMemo(() => new Map(devices.map((d) => [d.id, d.name])), [devices]);
  const unavailable = micUnavailable();

  useEffect(() => () => mic.current?.close(), []);
  useEffect(() => {
    if (phase !== 'on') return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [phase]);

  const start = async (e: Event) => {
    e.preventDefault();
    if (chosen.length === 0) return setError(t.chooseArea);
    setError(null);
    setPhase('starting');
    setSpeakers(new Map());
    try {
      const prepared = await api.prepareLive({ areaIds: chosen, priority, ...(title.trim() ? { title: title.trim() } : {}) });
      setSessionId(prepared.session.id);
      mic.current = await startMic(prepared.feedPath, prepared.ticket, {
        onLevel: setLevel,
        onEvent: (event) => {
          if (event.type === 'open') {
            setPhase('on');
            setStartedAt(Date.now());
            onChange();
          } else if (event.type === 'speaker') {
            setSpeakers((m) => new Map(m).set(event.speaker.deviceId, event.speaker));
          } else if (event.type === 'error') {
            setError(lang === 'vi' ? event.error.messageVi : event.error.message);
          }
        },
        onClose: (ended) => {
          mic.current = null;
          onChange();
          setPhase('idle');
          setLevel(0);
          setMuted(false);
          if (!ended) setError((e) => e ?? t.liveCut);
        },
      });
    } catch (err) {
      mic.current?.close();
      mic.current = null;
      setPhase('idle');
      setError((err as Error).name === 'NotAllowedError' ? t.micRefused : messageOf(err, lang));
    }
  };
  const end = () => {
    setPhase('ending');
    mic.current?.end();
  };
  const toggleMute = () => {
    mic.current?.setMuted(!muted);
    setMuted(!muted);
  };

  const counts = new Map<string, number>();
  for (const s of speakers.values()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  const elapsed = startedAt ? Math.max(0, Math.floor((now - startedAt) / 1000)) : 0;
  const on = phase === 'on' || phase === 'ending';

  return (
    <form class="card stack" onSubmit={(e) => void start(e)}>
      <h1>{t.navLive}</h1>
      {unavailable && <p role="alert" class="error">{unavailable === 'insecure' ? t.micNeedsHttps : t.micUnsupported}</p>}
      <label>
        {t.alertTitle}
        <input name="title" maxLength={200} value={title} disabled={on} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      {!on && <AreaPicker areas={areas} devices={devices} chosen={chosen} onChange={setChosen} />}
      {!on && may(me, 'alerts:write') && canPriority && (
        <label class="short">
          {t.livePriority}
          <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as 'priority' | 'emergency')}>
            <option value="priority">{t.livePriorities.priority}</option>
            <option value="emergency">{t.livePriorities.emergency}</option>
          </select>
        </label>
      )}
      <p data-testid="live-count">{t.liveCount(online, targeted.length - online)}</p>
      {error && <p role="alert" class="error">{error}</p>}
      {!on ? (
        <button type="submit" class="danger" disabled={phase === 'starting' || unavailable !== null} aria-busy={phase === 'starting'}>
          {phase === 'starting' ? t.liveStarting : t.liveStart}
        </button>
      ) : (
        <section class="stack" aria-live="polite" aria-label={t.liveOnAir}>
          <p>
            <span class="badge active" data-testid="live-state">{muted ? t.liveMuted : t.liveOnAir}</span> · {Math.floor(elapsed / 60)}:{String(elapsed % 60).padStart(2, '0')}
          </p>
          <div class="meter" role="meter" aria-label={t.micLevel} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(level * 100)} data-testid="mic-level">
            <span style={{ width: `${Math.round(level * 100)}%` }} />
          </div>
          <div class="row">
            <button type="button" onClick={toggleMute} aria-pressed={muted}>{muted ? t.micOn : t.micOff}</button>
            <button type="button" class="danger" onClick={end} disabled={phase === 'ending'}>{t.liveEnd}</button>
          </div>
          <ul class="totals" data-testid="live-totals">
            {(['joining', 'playing', 'lost', 'ended', 'refused'] as const).filter((s) => counts.get(s)).map((s) => (
              <li key={s} class={`state-${s}`}><strong>{counts.get(s)}</strong> {t.liveStates[s]}</li>
            ))}
          </ul>
          <table>
            <thead>
              <tr><th scope="col">{t.device}</th><th scope="col">{t.state}</th></tr>
            </thead>
            <tbody>
              {targeted.map((d) => {
                const s = speakers.get(d.id);
                return (
                  <tr key={d.id} data-state={s?.state ?? 'waiting'}>
                    <th scope="row">{names.get(d.id) ?? d.id}</th>
                    <td class={`state-${s?.state ?? 'pending'}`}>{s ? t.liveStates[s.state] : d.online ? t.liveWaiting : t.offline}{s?.reason ? ` (${s.reason})` : ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      )}
      {!on && sessionId && <p><a href={`#/live/${sessionId}`}>{t.liveLastReport}</a></p>}
    </form>
  );
}

function RecentSessions({ api, changes }: { api: Api; changes: number }) {
  const { t, locale } = useT();
  const [sessions, setSessions] = useState<LiveSession[]>([]);
  useEffect(() => {
    const load = () => void api.liveSessions().then(setSessions, () => undefined);
    load();
    const timer = setInterval(load, 10_000);
    return () => clearInterval(timer);
  }, [api, changes]);
  return (
    <section class="card">
      <h2>{t.liveRecent}</h2>
      {sessions.length === 0 ? (
        <p>{t.liveNone}</p>
      ) : (
        <ul class="plain">
          {sessions.map((s) => (
            <li key={s.id}>
              <a href={`#/live/${s.id}`}>{s.title ?? t.navLive}</a> · {s.createdByName ? `${s.createdByName} · ` : ''}{new Date(s.createdAt).toLocaleString(locale)} · {s.endedAt ? t.liveEndReasons[s.endReason ?? 'ended'] ?? s.endReason : s.startedAt ? t.liveOnAir : t.liveNotStarted}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function SessionReport({ api, id, devices }: { api: Api; id: string; devices: Device[] }) {
  const { t, lang, locale } = useT();
  const [detail, setDetail] = useState<LiveDetail | null>(null);
  const [audio, setAudio] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const names = useMemo(() => new Map(devices.map((d) => [d.id, d.name])), [devices]);
  useEffect(() => {
    api.liveSession(id).then(setDetail, (err: unknown) => setError(messageOf(err, lang)));
  }, [api, id, lang]);
  useEffect(() => {
    if (detail?.session.contentId) void api.audioUrl(detail.session.contentId).then(setAudio, () => undefined);
  }, [api, detail?.session.contentId]);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!detail) return <p aria-busy="true">…</p>;
  const s = detail.session;
  return (
    <section class="card stack">
      <h1>{s.title ?? t.navLive}</h1>
      <p>
        {s.createdByName && `${s.createdByName} · `}
        {s.startedAt ? new Date(s.startedAt).toLocaleString(locale) : t.liveNotStarted}
        {s.endedAt && ` – ${new Date(s.endedAt).toLocaleTimeString(locale)} · ${t.liveEndReasons[s.endReason ?? 'ended'] ?? s.endReason}`}
      </p>
      {audio ? <Preview url={audio} testId="live-recording" /> : s.recordingError && <p class="error">{t.liveNotRecorded}: {s.recordingError}</p>}
      <table data-testid="live-report">
        <thead>
          <tr><th scope="col">{t.device}</th><th scope="col">{t.livePlayed}</th><th scope="col">{t.state}</th></tr>
        </thead>
        <tbody>
          {detail.outcomes.map((o) => (
            <tr key={o.deviceId}>
              <th scope="row">{names.get(o.deviceId) ?? o.deviceId}</th>
              <td>{(o.playedMs / 1000).toFixed(1)} s</td>
              <td>{o.statuses.map((st) => t.outcomes[st] ?? st).join(', ')}{o.reasons.length ? ` (${o.reasons.join(', ')})` : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
