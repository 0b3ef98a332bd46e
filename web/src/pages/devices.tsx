/**
 * Devices for technicians: a list with filters (area, status, name), and a device's page with
 * its health over the last 24 hours and remote commands with their results.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, CommandRecord, Device, Telemetry } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';
import { AreaSelect, useAreasAndDevices } from './shared.js';

interface Props {
  api: Api;
  route: string;
  onUnauthorized: () => void;
}

export function DevicesPage({ api, route, onUnauthorized }: Props) {
  const id = route.split('/')[2];
  const { areas, devices, error } = useAreasAndDevices(api, onUnauthorized);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!devices) return <p aria-busy="true">…</p>;
  return id ? <DeviceDetail api={api} id={id} areas={areas} /> : <DeviceList areas={areas} devices={devices} />;
}

function DeviceList({ areas, devices }: { areas: Area[]; devices: Device[] }) {
  const { t, locale } = useT();
  const [areaId, setAreaId] = useState('');
  const [status, setStatus] = useState('');
  const [q, setQ] = useState('');
  const areaNames = useMemo(() => new Map(areas.map((a) => [a.id, a.name])), [areas]);
  const shown = devices.filter(
    (d) => (!areaId || d.areaId === areaId) && (!status || (status === 'online') === d.online) && (!q || d.name.toLocaleLowerCase('vi').includes(q.toLocaleLowerCase('vi'))),
  );
  return (
    <div class="stack">
      <form class="card row filters" onSubmit={(e) => e.preventDefault()}>
        <h1>{t.navDevices}</h1>
        <AreaSelect areas={areas} value={areaId} onChange={setAreaId} />
        <label>
          {t.status}
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t.all}</option>
            <option value="online">{t.online}</option>
            <option value="offline">{t.offline}</option>
          </select>
        </label>
        <label>
          {t.search}
          <input type="search" name="q" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </label>
      </form>
      <section class="card scroll">
        <table data-testid="devices">
          <thead>
            <tr><th scope="col">{t.device}</th><th scope="col">{t.area}</th><th scope="col">{t.status}</th><th scope="col">{t.playing}</th><th scope="col">{t.lastSeen}</th></tr>
          </thead>
          <tbody>
            {shown.map((d) => (
              <tr key={d.id}>
                <th scope="row"><a href={`#/devices/${d.id}`}>{d.name}</a></th>
                <td>{areaNames.get(d.areaId) ?? ''}</td>
                <td class={d.online ? 'state-finished' : 'state-offline'}>{d.online ? t.online : t.offline}</td>
                <td>{d.online && d.latestTelemetry?.playing ? '▶' : ''}</td>
                <td>{d.lastSeenAt ? new Date(d.lastSeenAt).toLocaleString(locale) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function DeviceDetail({ api, id, areas }: { api: Api; id: string; areas: Area[] }) {
  const { t, lang, locale } = useT();
  const [device, setDevice] = useState<Device | null>(null);
  const [series, setSeries] = useState<{ at: string; telemetry: Telemetry }[]>([]);
  const [commands, setCommands] = useState<CommandRecord[]>([]);
  const [volume, setVolume] = useState(80);
  const [error, setError] = useState<string | null>(null);
  const refreshCommands = () => api.commands(id).then(setCommands, () => undefined);

  useEffect(() => {
    Promise.all([api.device(id), api.telemetry(id)]).then(([d, tel]) => {
      setDevice(d);
      setSeries(tel);
    }, (err: unknown) => setError(messageOf(err, lang)));
    void refreshCommands();
  }, [api, id]);

  const send = async (type: string, params: Record<string, number> = {}) => {
    setError(null);
    try {
      await api.command(id, type, params);
      // The result comes back from the speaker within seconds: look a few times, then stop.
      for (const wait of [500, 1500, 3000, 6000]) setTimeout(() => void refreshCommands(), wait);
      void refreshCommands();
    } catch (err) {
      setError(messageOf(err, lang));
    }
  };

  if (!device) return error ? <p role="alert" class="error">{error}</p> : <p aria-busy="true">…</p>;
  return (
    <div class="stack">
      <a href="#/devices">{t.back}</a>
      <section class="card">
        <h1>{device.name}</h1>
        <p>
          {areas.find((a) => a.id === device.areaId)?.name} · <span class={device.online ? 'state-finished' : 'state-offline'}>{device.online ? t.online : t.offline}</span>
          {device.agentVersion ? ` · ${t.version} ${device.agentVersion}` : ''}
          {device.lastSeenAt ? ` · ${t.lastSeen} ${new Date(device.lastSeenAt).toLocaleString(locale)}` : ''}
        </p>
      </section>
      <section class="card">
        <h2>{t.health}</h2>
        {series.length < 2 ? (
          <p>{t.noData}</p>
        ) : (
          <div class="row">
            <LineChart label={t.ampTemp} points={series.flatMap((s) => (s.telemetry.amp?.temperatureC !== undefined ? [[Date.parse(s.at), s.telemetry.amp.temperatureC] as [number, number]] : []))} />
            <LineChart label={t.cpuTemp} points={series.flatMap((s) => (s.telemetry.cpuTemperatureC !== undefined ? [[Date.parse(s.at), s.telemetry.cpuTemperatureC] as [number, number]] : []))} />
          </div>
        )}
      </section>
      <section class="card stack">
        <h2>{t.commands}</h2>
        <div class="row">
          <button type="button" onClick={() => void send('test-tone')}>{t.testTone}</button>
          <button type="button" onClick={() => void send('amp-test')}>{t.ampTest}</button>
          <label class="inline">
            {t.volume}
            <input type="number" min={0} max={100} value={volume} onInput={(e) => setVolume(Number(e.currentTarget.value))} />
          </label>
          <button type="button" onClick={() => void send('volume', { volume })}>{t.setVolume}</button>
        </div>
        {error && <p role="alert" class="error">{error}</p>}
        <table data-testid="commands">
          <tbody>
            {commands.slice(0, 10).map((c) => (
              <tr key={c.id} data-status={c.status}>
                <td>{new Date(c.issuedAt).toLocaleTimeString(locale)}</td>
                <th scope="row">{c.type}</th>
                <td class={c.status === 'succeeded' ? 'state-finished' : c.status === 'sent' ? '' : 'state-failed'}>{t.commandStatus[c.status] ?? c.status}</td>
                <td>{c.result?.error?.message ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** One measure over time as an SVG line; the latest value is printed beside the title. */
function LineChart({ label, points }: { label: string; points: [number, number][] }) {
  if (points.length < 2) return null;
  const w = 320;
  const h = 100;
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys) - 1, Math.max(...ys) + 1];
  const path = points.map(([x, y]) => `${(((x - x0) / (x1 - x0 || 1)) * w).toFixed(1)},${(h - ((y - y0) / (y1 - y0)) * h).toFixed(1)}`).join(' ');
  return (
    <figure class="linechart">
      <figcaption>
        {label}: <strong>{ys.at(-1)}</strong> (min {Math.min(...ys)}, max {Math.max(...ys)})
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
        <polyline points={path} fill="none" stroke="#0b5cad" stroke-width="2" />
      </svg>
    </figure>
  );
}
