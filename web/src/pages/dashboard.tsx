/** Overview: online, offline, playing and alarm counts per area, today's programme and the recent alerts, kept live. */
import { useEffect, useState } from 'preact/hooks';
import type { Alarm, Alert, Api, Area, Device, Me, TimelinePlay } from '../api.js';
import { mergeDevices, upsertNewest, useLive } from '../live.js';
import { useT } from '../i18n.js';
import { messageOf, onLoadError } from './errors.js';
import { may } from './shared.js';
import { dayStartIn, DEFAULT_TIMEZONE, timeIn } from '../dates.js';

interface Data {
  areas: Area[];
  devices: Device[];
  alarms: Alarm[];
  alerts: Alert[];
  today: TimelinePlay[];
  /** The user's area's timezone: "today" and its times are the commune's, whatever the browser's clock says (issue 14). */
  timeZone: string;
}

export function DashboardPage({ api, me, onUnauthorized }: { api: Api; me: Me | null; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    if (!me) return;
    const areaList = api.areas();
    const zone = areaList.then((list) => list.find((a) => a.id === me.areaId)?.effectiveTimezone ?? DEFAULT_TIMEZONE);
    const plays = zone.then((tz) => {
      const from = dayStartIn(tz, Date.now());
      const to = dayStartIn(tz, from.getTime() + 36 * 3600_000);
      return api.areaTimeline(me.areaId, from.toISOString(), to.toISOString());
    });
    Promise.all([areaList, api.devices(), api.activeAlarms(), api.alerts(), plays, zone]).then(
      ([areas, devices, alarms, alerts, today, timeZone]) => live && setData({ areas, devices, alarms, alerts, today, timeZone }),
      onLoadError(lang, onUnauthorized, setError),
    );
    return () => {
      live = false;
    };
  }, [api, me]);
  useLive((event, payload) => {
    if (event === 'devices') setData((d) => d && { ...d, devices: mergeDevices(d.devices, payload as Device[]) });
    if (event === 'alarm') {
      const { type, alarm } = payload as { type: string; alarm: Alarm };
      setData((d) => d && { ...d, alarms: type === 'raised' ? [alarm, ...d.alarms.filter((a) => a.id !== alarm.id)] : d.alarms.filter((a) => a.id !== alarm.id) });
    }
    if (event === 'alert') {
      const alert = payload as Alert;
      setData((d) => d && { ...d, alerts: upsertNewest(d.alerts, alert) });
    }
  });

  const ack = async (alarmId: string) => {
    try {
      const acked = await api.ackAlarm(alarmId);
      setData((d) => d && { ...d, alarms: d.alarms.map((a) => (a.id === alarmId ? { ...a, ackedBy: acked.ackedBy } : a)) });
    } catch (err) {
      setError(messageOf(err, lang));
    }
  };

  if (error) return <p role="alert" class="error">{error}</p>;
  if (!data) return <p aria-busy="true">…</p>;
  const alarmed = new Set(data.alarms.map((a) => a.deviceId));
  const rows = data.areas
    .map((area) => {
      const ds = data.devices.filter((d) => d.areaId === area.id);
      return {
        area,
        total: ds.length,
        online: ds.filter((d) => d.online).length,
        playing: ds.filter((d) => d.online && d.latestTelemetry?.playing).length,
        alarms: ds.filter((d) => alarmed.has(d.id)).length,
      };
    })
    .filter((r) => r.total > 0);
  const sum = (k: 'total' | 'online' | 'playing' | 'alarms') => rows.reduce((n, r) => n + r[k], 0);

  return (
    <div class="stack">
      <section class="tiles" aria-label={t.navDashboard}>
        <Tile label={t.online} value={sum('online')} kind="ok" />
        <Tile label={t.offline} value={sum('total') - sum('online')} kind={sum('total') - sum('online') ? 'bad' : 'ok'} />
        <Tile label={t.playing} value={sum('playing')} kind="info" />
        <Tile label={t.alarms} value={data.alarms.length} kind={data.alarms.length ? 'bad' : 'ok'} />
      </section>
      {data.alarms.length > 0 && (
        <section class="card" aria-live="polite">
          <h2>{t.alarms}</h2>
          <ul class="plain" data-testid="alarms">
            {data.alarms.slice(0, 10).map((a) => (
              <li key={a.id} class="bad">
                <a href={`#/devices/${a.deviceId}`}>{a.deviceName}</a>: {lang === 'vi' ? a.labelVi : a.label}
                {a.ackedBy ? (
                  <small> · {t.acknowledged}</small>
                ) : (
                  may(me, 'alarms:ack') && (
                    <button type="button" class="link" onClick={() => void ack(a.id)}>
                      {t.acknowledge}
                    </button>
                  )
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section class="card">
        <table>
          <thead>
            <tr><th scope="col">{t.area}</th><th scope="col">{t.devices}</th><th scope="col">{t.online}</th><th scope="col">{t.offline}</th><th scope="col">{t.playing}</th><th scope="col">{t.alarms}</th></tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.area.id} data-testid={`area-row-${r.area.id}`}>
                <th scope="row">{r.area.name}</th>
                <td>{r.total}</td>
                <td>{r.online}</td>
                <td class={r.total - r.online ? 'bad' : ''}>{r.total - r.online}</td>
                <td>{r.playing}</td>
                <td class={r.alarms ? 'bad' : ''}>{r.alarms}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>{t.todayProgramme}</h2>
        {data.today.length === 0 ? (
          <p>{t.noPlays}</p>
        ) : (
          <table data-testid="today">
            <tbody>
              {data.today.map((p) => (
                <tr key={p.playId} data-status={p.scheduleStatus} class={Date.parse(p.endAt) < Date.now() ? 'past' : ''}>
                  <td><time dateTime={p.startAt}>{timeIn(p.startAt, data.timeZone, locale)}</time></td>
                  <th scope="row">{p.scheduleTitle}</th>
                  <td>{t.speakers(p.devices ?? 0)}</td>
                  <td>{p.scheduleStatus === 'pending' ? t.pending : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card">
        <h2>{t.recentAlerts}</h2>
        {data.alerts.length === 0 ? (
          <p>{t.noAlerts}</p>
        ) : (
          <ul class="plain">
            {data.alerts.slice(0, 5).map((a) => (
              <li key={a.id}>
                <a href={`#/alerts/${a.id}`}>{a.title}</a> — {t.alertStates[a.state] ?? a.state} · {new Date(a.createdAt).toLocaleString(locale, { timeZone: data.timeZone })}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function Tile({ label, value, kind }: { label: string; value: number; kind: 'ok' | 'bad' | 'info' }) {
  return (
    <div class={`tile ${kind}`}>
      <span class="value">{value}</span>
      <span class="label">{label}</span>
    </div>
  );
}
