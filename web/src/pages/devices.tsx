/**
 * Areas and devices for technicians: the area tree with counts, a list with filters (area,
 * status, name), speakers on a map, and a device's page with its health over the last 24
 * hours, its software version and update, its position and remote commands with their results.
 * Everything updates live.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, CommandRecord, Device, DeviceUpdate, Me, Rollout, Telemetry } from '../api.js';
import { useT } from '../i18n.js';
import { useLive } from '../live.js';
import { messageOf } from './errors.js';
import { DeviceMap } from './map.js';
import { changedAt, shownState, stateLabel, UpdateReason } from './rollout.js';
import { AreaSelect, downloadJson, may, type Notice, NoticeLine, subtree, treeOrder, useAreasAndDevices } from './shared.js';

interface Props {
  api: Api;
  me: Me | null;
  route: string;
  onUnauthorized: () => void;
}

export function DevicesPage({ api, me, route, onUnauthorized }: Props) {
  const id = route.split('/')[2];
  const { areas, devices, error, reloadDevices } = useAreasAndDevices(api, onUnauthorized);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!devices) return <p aria-busy="true">…</p>;
  const listed = devices.find((d) => d.id === id);
  return id ? <DeviceDetail api={api} me={me} id={id} listed={listed} areas={areas} /> : <DeviceList api={api} me={me} areas={areas} devices={devices} onAdded={reloadDevices} />;
}

function DeviceList({ api, me, areas, devices, onAdded }: { api: Api; me: Me | null; areas: Area[]; devices: Device[]; onAdded: () => void }) {
  const { t, locale } = useT();
  const [areaId, setAreaId] = useState('');
  const [status, setStatus] = useState('');
  const [q, setQ] = useState('');
  const [map, setMap] = useState<{ mapTileUrl: string | null; mapAttribution: string | null }>({ mapTileUrl: null, mapAttribution: null });
  useEffect(() => void api.settings().then(setMap, () => undefined), [api]);
  const areaNames = useMemo(() => new Map(areas.map((a) => [a.id, a.name])), [areas]);
  const inArea = useMemo(() => (areaId ? subtree(areas, [areaId]) : null), [areas, areaId]);
  const shown = devices.filter(
    (d) => (!inArea || inArea.has(d.areaId)) && (!status || (status === 'online') === d.online) && (!q || d.name.toLocaleLowerCase('vi').includes(q.toLocaleLowerCase('vi'))),
  );
  const counts = useMemo(() => {
    const out = new Map<string, { total: number; online: number }>();
    for (const a of areas) {
      const below = subtree(areas, [a.id]);
      const ds = devices.filter((d) => below.has(d.areaId));
      out.set(a.id, { total: ds.length, online: ds.filter((d) => d.online).length });
    }
    return out;
  }, [areas, devices]);
  return (
    <div class="split">
      <nav class="card tree" aria-label={t.areaTree}>
        <h2>{t.areaTree}</h2>
        <ul class="plain">
          <li>
            <button type="button" class="link" aria-pressed={areaId === ''} onClick={() => setAreaId('')}>{t.allAreas}</button>
          </li>
          {treeOrder(areas).map(({ area, depth }) => {
            const c = counts.get(area.id) ?? { total: 0, online: 0 };
            return (
              <li key={area.id} style={{ paddingLeft: `${depth}rem` }}>
                <button type="button" class="link" aria-pressed={areaId === area.id} onClick={() => setAreaId(area.id)} data-testid={`tree-${area.id}`}>
                  {area.name} <small class={c.online < c.total ? 'bad' : ''}>{c.online}/{c.total}</small>
                </button>
              </li>
            );
          })}
        </ul>
      </nav>
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
        <section class="card scroll" tabIndex={0} aria-label={t.navDevices}>
          <table data-testid="devices">
            <thead>
              <tr><th scope="col">{t.device}</th><th scope="col">{t.area}</th><th scope="col">{t.status}</th><th scope="col">{t.playing}</th><th scope="col">{t.lastSeen}</th></tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr key={d.id} data-online={String(d.online)}>
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
        {may(me, 'devices:write') && me && <AddDevice api={api} areas={areas} defaultArea={areaId || me.areaId} onAdded={onAdded} />}
        <section class="card">
          <h2>{t.map}</h2>
          <DeviceMap devices={shown} tileUrl={map.mapTileUrl} attribution={map.mapAttribution} />
        </section>
      </div>
    </div>
  );
}

function DeviceDetail({ api, me, id, listed, areas }: { api: Api; me: Me | null; id: string; listed: Device | undefined; areas: Area[] }) {
  const { t, lang, locale } = useT();
  const [fetched, setFetched] = useState<Device | null>(null);
  const [series, setSeries] = useState<{ at: string; telemetry: Telemetry }[]>([]);
  const [commands, setCommands] = useState<CommandRecord[]>([]);
  const [volume, setVolume] = useState(80);
  const [error, setError] = useState<string | null>(null);
  const [log, setLog] = useState<{ at: string; text: string; bad: boolean }[]>([]);
  // The list the live stream keeps up to date wins over the first fetch.
  const device = listed ?? fetched;

  // Connections and the conditions the speaker reported, newest first; read again when it comes or goes.
  const loadLog = () =>
    Promise.all([api.device(id), api.deviceEvents(id)]).then(([d, ev]) => {
      setFetched(d);
      const presence = d.presenceHistory.map((p) => ({ at: p.at, text: `${p.online ? t.online : t.offline} (${p.cause})`, bad: !p.online }));
      const conditions = ev.history.map((e) => ({ at: e.at, text: `${e.active ? t.raised : t.cleared}: ${e.kind}${e.code ? ` ${e.code}` : ''}${e.detail ? ` — ${e.detail}` : ''}`, bad: e.active }));
      setLog([...presence, ...conditions].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 30));
    });
  useEffect(() => {
    Promise.all([loadLog(), api.telemetry(id).then(setSeries)]).catch((err: unknown) => setError(messageOf(err, lang)));
    void api.commands(id).then(setCommands, () => undefined);
  }, [api, id]);
  const online = device?.online;
  useEffect(() => {
    if (fetched && online !== undefined && online !== fetched.online) void loadLog().catch(() => undefined);
  }, [online]);
  // Results arrive on the live stream; new telemetry extends the charts.
  useLive((event, data) => {
    if (event === 'command') {
      const c = data as CommandRecord & { deviceId: string };
      if (c.deviceId === id) setCommands((list) => [c, ...list.filter((x) => x.id !== c.id)]);
    }
    if (event === 'devices') {
      const d = (data as Device[]).find((x) => x.id === id);
      const tel = d?.latestTelemetry;
      if (tel) setSeries((s) => (s.at(-1)?.at === tel.at ? s : [...s, { at: tel.at, telemetry: tel }]));
    }
  });

  const send = async (type: string, params: Record<string, number> = {}) => {
    setError(null);
    try {
      const issued = await api.command(id, type, params);
      // The result may have come on the live stream before this answer: keep it.
      setCommands((list) => (list.some((x) => x.id === issued.id) ? list : [issued, ...list]));
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
          {areas.find((a) => a.id === device.areaId)?.name} · <span class={device.online ? 'state-finished' : 'state-offline'} data-testid="device-online">{device.online ? t.online : t.offline}</span>
          {device.agentVersion ? ` · ${t.version} ${device.agentVersion}` : ''}
          {device.lastSeenAt ? ` · ${t.lastSeen} ${new Date(device.lastSeenAt).toLocaleString(locale)}` : ''}
        </p>
      </section>
      {may(me, 'updates:read') && <DeviceUpdateCard api={api} device={device} areas={areas} />}
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
      {may(me, 'devices:command') && (
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
      )}
      <section class="card scroll" tabIndex={0} aria-label={t.deviceLog}>
        <h2>{t.deviceLog}</h2>
        {log.length === 0 ? (
          <p>{t.noData}</p>
        ) : (
          <table data-testid="device-log">
            <tbody>
              {log.map((e, i) => (
                <tr key={`${e.at}-${i}`} class={e.bad ? 'bad' : ''}>
                  <td><time dateTime={e.at}>{new Date(e.at).toLocaleString(locale)}</time></td>
                  <td>{e.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {may(me, 'devices:write') && <PositionForm api={api} device={device} onSaved={setFetched} />}
      {may(me, 'devices:write') && <Credentials api={api} device={device} onSaved={setFetched} />}
    </div>
  );
}

/**
 * The agent version the speaker runs and where it is in the latest rollout that included it
 * (issue 20); read again when a rollout that may include it moves.
 */
function DeviceUpdateCard({ api, device, areas }: { api: Api; device: Device; areas: Area[] }) {
  const { t, locale } = useT();
  const [info, setInfo] = useState<DeviceUpdate | null>(null);
  const load = () => void api.deviceUpdate(device.id).then(setInfo, () => undefined);
  useEffect(load, [api, device.id]);
  useLive((event, data) => {
    if (event !== 'rollout') return;
    const r = data as Rollout;
    if (r.id === info?.update?.rolloutId || r.deviceIds.includes(device.id) || subtree(areas, r.areaIds).has(device.areaId)) load();
  });
  const u = info?.update;
  const shown = u && shownState(u);
  return (
    <section class="card" data-testid="device-update">
      <h2>{t.deviceUpdate}</h2>
      <dl class="facts">
        <div><dt>{t.runsVersion}</dt><dd data-testid="agent-version">{info?.agentVersion ?? device.agentVersion ?? t.unknownVersion}</dd></div>
        {device.agentArch && <div><dt>{t.cpu}</dt><dd data-testid="agent-arch">{device.agentArch}</dd></div>}
        {u && shown ? (
          <>
            <div><dt>{t.latestRollout}</dt><dd><a href={`#/updates/${u.rolloutId}`}>{t.rolloutTo(u.version)}</a> ({t.rolloutStates[u.rolloutState] ?? u.rolloutState})</dd></div>
            <div><dt>{t.state}</dt><dd><span class={`state-${shown}`} data-testid="update-state">{stateLabel(t, shown)}</span> · {t.wave} {u.wave + 1}</dd></div>
            {u.reason && <div><dt>{t.reason}</dt><dd><UpdateReason reason={u.reason} /></dd></div>}
            {shown !== 'pending' && <div><dt>{t.at}</dt><dd><time dateTime={changedAt(u)}>{new Date(changedAt(u)).toLocaleString(locale)}</time></dd></div>}
          </>
        ) : null}
      </dl>
      {info && !u && <p>{t.noUpdateYet}</p>}
    </section>
  );
}

/** Registers a speaker and hands over its agent config (with its secret) as a file, once. */
function AddDevice({ api, areas, defaultArea, onAdded }: { api: Api; areas: Area[]; defaultArea: string; onAdded: () => void }) {
  const { t, lang } = useT();
  const [name, setName] = useState('');
  const [areaId, setAreaId] = useState('');
  const [message, setMessage] = useState<Notice>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    try {
      const made = await api.createDevice({ name: name.trim(), areaId: areaId || defaultArea });
      downloadJson(`loalang-agent-${made.id}.json`, made.agentConfig);
      setMessage({ error: false, text: t.deviceAdded(made.name) });
      setName('');
      onAdded();
    } catch (err) {
      setMessage({ error: true, text: messageOf(err, lang) });
    }
  };
  return (
    <form class="card row filters" onSubmit={(e) => void add(e)}>
      <h2>{t.addDevice}</h2>
      <label>
        {t.deviceName}
        <input name="device-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <AreaSelect areas={areas} value={areaId || defaultArea} onChange={setAreaId} all={false} />
      <button type="submit">{t.addDevice}</button>
      <NoticeLine notice={message} />
    </form>
  );
}

/** A new secret (the old one stops at once; the new config is downloaded), and disabling the speaker. */
function Credentials({ api, device, onSaved }: { api: Api; device: Device; onSaved: (d: Device) => void }) {
  const { t, lang } = useT();
  const [message, setMessage] = useState<Notice>(null);
  const run = async (what: () => Promise<void>, done: string) => {
    try {
      await what();
      setMessage({ error: false, text: done });
    } catch (err) {
      setMessage({ error: true, text: messageOf(err, lang) });
    }
  };
  const rotate = () =>
    confirm(t.confirmRotate(device.name)) &&
    void run(async () => downloadJson(`loalang-agent-${device.id}.json`, (await api.rotateSecret(device.id)).agentConfig), t.rotated);
  const toggle = () => void run(async () => onSaved(await api.updateDevice(device.id, { disabled: !device.disabled })), t.saved);
  return (
    <section class="card stack">
      <h2>{t.credentials}</h2>
      <div class="row">
        <button type="button" onClick={rotate}>{t.rotateSecret}</button>
        <button type="button" class={device.disabled ? '' : 'danger'} onClick={toggle}>{device.disabled ? t.enable : t.disable}</button>
      </div>
      <NoticeLine notice={message} />
    </section>
  );
}

/** The speaker's GPS position (decimal degrees), for the map. */
function PositionForm({ api, device, onSaved }: { api: Api; device: Device; onSaved: (d: Device) => void }) {
  const { t, lang } = useT();
  const [lat, setLat] = useState(device.position ? String(device.position.lat) : '');
  const [lon, setLon] = useState(device.position ? String(device.position.lon) : '');
  const [message, setMessage] = useState<Notice>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      onSaved(await api.updateDevice(device.id, { position: lat && lon ? { lat: Number(lat), lon: Number(lon) } : null }));
      setMessage({ error: false, text: t.saved });
    } catch (err) {
      setMessage({ error: true, text: messageOf(err, lang) });
    }
  };
  return (
    <form class="card row filters" onSubmit={(e) => void save(e)}>
      <h2>{t.position}</h2>
      <label>
        {t.latitude}
        <input name="lat" inputMode="decimal" pattern="-?[0-9]{1,2}(\.[0-9]+)?" value={lat} onInput={(e) => setLat(e.currentTarget.value)} />
      </label>
      <label>
        {t.longitude}
        <input name="lon" inputMode="decimal" pattern="-?[0-9]{1,3}(\.[0-9]+)?" value={lon} onInput={(e) => setLon(e.currentTarget.value)} />
      </label>
      <button type="submit">{t.save}</button>
      <NoticeLine notice={message} />
    </form>
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
