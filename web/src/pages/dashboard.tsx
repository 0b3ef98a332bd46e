/** Overview: online, offline, playing and alarm counts per area, and the recent alerts. */
import { useEffect, useState } from 'preact/hooks';
import type { Alarm, Alert, Api, Area, Device } from '../api.js';
import { useT } from '../i18n.js';
import { onLoadError } from './errors.js';

interface Data {
  areas: Area[];
  devices: Device[];
  alarms: Alarm[];
  alerts: Alert[];
}

export function DashboardPage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const load = () =>
      Promise.all([api.areas(), api.devices(), api.activeAlarms(), api.alerts()]).then(
        ([areas, devices, alarms, alerts]) => live && setData({ areas, devices, alarms, alerts }),
        onLoadError(lang, onUnauthorized, setError),
      );
    void load();
    return () => {
      live = false;
    };
  }, [api]);

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
        <h2>{t.recentAlerts}</h2>
        {data.alerts.length === 0 ? (
          <p>{t.noAlerts}</p>
        ) : (
          <ul class="plain">
            {data.alerts.slice(0, 5).map((a) => (
              <li key={a.id}>
                <a href={`#/alerts/${a.id}`}>{a.title}</a> — {t.alertStates[a.state] ?? a.state} · {new Date(a.createdAt).toLocaleString(locale)}
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
