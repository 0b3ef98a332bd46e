/**
 * Alerts for district and province staff: a composer (text read out by the speech engine,
 * target areas from the tree), a confirmation that says how many speakers will sound, then the
 * live delivery board (the server's event stream) with a cancel button.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Alert, Api, AlertView, Area, Delivery, DeliveryState, Device, Me } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';
import { AreaPicker, may, Preview, subtree, useAreasAndDevices } from './shared.js';
import { upsertNewest, useLive } from '../live.js';

interface Props {
  api: Api;
  me: Me | null;
  route: string;
  onUnauthorized: () => void;
}

export function AlertsPage({ api, me, route, onUnauthorized }: Props) {
  const id = route.split('/')[2];
  const { areas, devices, error } = useAreasAndDevices(api, onUnauthorized);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (id) return <DeliveryBoard api={api} id={id} devices={devices ?? []} canCancel={may(me, 'alerts:write')} />;
  return (
    <div class="stack">
      {may(me, 'alerts:write') && <Composer api={api} me={me} areas={areas} devices={devices ?? []} />}
      <RecentAlerts api={api} />
    </div>
  );
}

function Composer({ api, me, areas, devices }: { api: Api; me: Me | null; areas: Area[]; devices: Device[] }) {
  const { t, lang } = useT();
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  const [repeat, setRepeat] = useState(2);
  const [chosen, setChosen] = useState<string[]>([]);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The spoken preview: the same audio is sent if the text has not changed since.
  const [preview, setPreview] = useState<{ text: string; contentId: string; url: string } | null>(null);
  const [speaking, setSpeaking] = useState(false);
  const covered = useMemo(() => subtree(areas, chosen), [areas, chosen]);
  // Online speakers sound at once; offline ones when they come back while the alert is valid (issue 14).
  const targeted = devices.filter((d) => covered.has(d.areaId) && !d.disabled);
  const online = targeted.filter((d) => d.online).length;

  const ask = (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return setError(t.needText);
    if (chosen.length === 0) return setError(t.chooseArea);
    setError(null);
    setConfirming(true);
  };
  const listen = async () => {
    if (!text.trim()) return setError(t.needText);
    setError(null);
    setSpeaking(true);
    try {
      // Alert speech: kept out of the library, and the same text reuses its audio (issue 14).
      const item = await api.speak(title.trim() || text.trim().slice(0, 80), text.trim(), me?.areaId ?? '', 'alert');
      setPreview({ text: text.trim(), contentId: item.id, url: await api.audioUrl(item.id) });
    } catch (err) {
      setError(messageOf(err, lang));
    } finally {
      setSpeaking(false);
    }
  };
  const send = async () => {
    setBusy(true);
    try {
      const what = preview?.text === text.trim() ? { contentId: preview.contentId } : { text: text.trim() };
      const alert = await api.createAlert({ ...(title.trim() ? { title: title.trim() } : {}), ...what, targets: { areaIds: chosen, deviceIds: [] }, repeat });
      location.hash = `#/alerts/${alert.id}`;
    } catch (err) {
      setError(messageOf(err, lang));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={ask}>
      <h1>{t.newAlert}</h1>
      <label>
        {t.alertTitle}
        <input name="title" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        {t.alertText}
        <textarea name="text" rows={4} maxLength={5000} required value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <div class="row">
        <button type="button" disabled={speaking} aria-busy={speaking} onClick={() => void listen()}>{speaking ? t.speaking : t.listen}</button>
        {preview?.text === text.trim() && <Preview url={preview.url} testId="alert-preview" />}
      </div>
      <AreaPicker areas={areas} devices={devices} chosen={chosen} onChange={setChosen} />
      <label class="short">
        {t.repeat}
        <input name="repeat" type="number" min={1} max={10} value={repeat} onInput={(e) => setRepeat(Number(e.currentTarget.value) || 1)} />
      </label>
      {error && <p role="alert" class="error">{error}</p>}
      {!confirming ? (
        <button type="submit" class="danger">{t.send}</button>
      ) : (
        <div role="alertdialog" aria-labelledby="confirm-title" class="confirm">
          <h2 id="confirm-title">{t.confirmTitle}</h2>
          <p data-testid="confirm-count">{t.confirmCount(online, targeted.length - online)}</p>
          <div class="row">
            <button type="button" class="danger" disabled={busy} onClick={() => void send()} autoFocus>{t.confirmYes}</button>
            <button type="button" onClick={() => setConfirming(false)}>{t.cancel}</button>
          </div>
        </div>
      )}
    </form>
  );
}

function DeliveryBoard({ api, id, devices, canCancel }: { api: Api; id: string; devices: Device[]; canCancel: boolean }) {
  const { t, lang, locale } = useT();
  const [view, setView] = useState<AlertView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const names = useMemo(() => new Map(devices.map((d) => [d.id, d.name])), [devices]);

  useEffect(() => {
    setView(null);
    return api.alertEvents(id, (event, data) => {
      if (event === 'snapshot') setView(data as AlertView);
      if (event === 'alert') setView((v) => (v ? { ...v, ...(data as AlertView), deliveries: v.deliveries, totals: v.totals } : v));
      if (event === 'deliveries') {
        setView((v) => {
          if (!v) return v;
          const byDevice = new Map(v.deliveries.map((d) => [d.deviceId, d]));
          for (const d of data as Delivery[]) byDevice.set(d.deviceId, d);
          const deliveries = [...byDevice.values()];
          // Every state counted, zero included, as the server counts them.
          const totals = Object.fromEntries(Object.keys(v.totals).map((s) => [s, 0])) as AlertView['totals'];
          for (const d of deliveries) totals[d.state] += 1;
          return { ...v, deliveries, totals };
        });
      }
    });
  }, [api, id]);

  const cancel = async () => {
    try {
      await api.cancelAlert(id);
    } catch (err) {
      setError(messageOf(err, lang));
    }
  };

  if (!view) return <p aria-busy="true">…</p>;
  const order: DeliveryState[] = ['pending', 'offline', 'received', 'started', 'finished', 'failed', 'interrupted', 'cancelled', 'expired'];
  return (
    <section class="card stack" aria-live="polite">
      <h1>{view.title}</h1>
      <p>
        <span class={`badge ${view.state}`} data-testid="alert-state">{t.alertStates[view.state] ?? view.state}</span> · {t.live}
      </p>
      <ul class="totals" data-testid="totals">
        {order.filter((s) => view.totals[s]).map((s) => (
          <li key={s} class={`state-${s}`}>
            <strong>{view.totals[s]}</strong> {t.states[s] ?? s}
          </li>
        ))}
        <li>
          <strong>{view.deliveries.length}</strong> {t.total}
        </li>
      </ul>
      <table>
        <thead>
          <tr><th scope="col">{t.device}</th><th scope="col">{t.state}</th><th scope="col">{t.at}</th></tr>
        </thead>
        <tbody>
          {[...view.deliveries].sort((a, b) => (names.get(a.deviceId) ?? a.deviceId).localeCompare(names.get(b.deviceId) ?? b.deviceId)).map((d) => (
            <tr key={d.deviceId} data-state={d.state}>
              <th scope="row">{names.get(d.deviceId) ?? d.deviceId}</th>
              <td class={`state-${d.state}`}>{t.states[d.state] ?? d.state}</td>
              <td>{new Date(d.updatedAt).toLocaleTimeString(locale)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {error && <p role="alert" class="error">{error}</p>}
      {view.state === 'active' && canCancel && (
        <button type="button" class="danger" onClick={() => void cancel()}>{t.cancelAlert}</button>
      )}
    </section>
  );
}

/** The latest alerts, their state kept live, each a link to its delivery board. */
function RecentAlerts({ api }: { api: Api }) {
  const { t, locale } = useT();
  const [alerts, setAlerts] = useState<Alert[]>([]);
  useEffect(() => void api.alerts().then(setAlerts, () => undefined), [api]);
  useLive((event, data) => {
    if (event === 'alert') {
      const a = data as Alert;
      setAlerts((list) => upsertNewest(list, a));
    }
  });
  return (
    <section class="card">
      <h2>{t.recentAlerts}</h2>
      {alerts.length === 0 ? (
        <p>{t.noAlerts}</p>
      ) : (
        <table data-testid="alerts">
          <tbody>
            {alerts.map((a) => (
              <tr key={a.id}>
                <th scope="row"><a href={`#/alerts/${a.id}`}>{a.title}</a></th>
                <td>{t.alertStates[a.state] ?? a.state}</td>
                <td>{new Date(a.createdAt).toLocaleString(locale)}</td>
                <td>{a.totals ? `${a.totals['finished'] ?? 0}/${Object.values(a.totals).reduce((n, x) => n + x, 0)} ${t.states['finished']}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
