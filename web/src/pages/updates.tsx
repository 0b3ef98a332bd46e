/**
 * Software updates of the speakers' agent (issue 20), for technicians and admins: the rollouts
 * (kept live), starting one (a release, areas or single speakers, waves, failure threshold), and
 * the releases uploaded, with an upload form. A rollout's own page is in rollout.tsx.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, Device, Me, ReleaseListItem, Releases, Rollout } from '../api.js';
import { useT } from '../i18n.js';
import { upsertNewest, useLive } from '../live.js';
import { messageOf, onLoadError } from './errors.js';
import { RolloutDetail } from './rollout.js';
import { AreaPicker, may, type Notice, NoticeLine, subtree, useAreasAndDevices } from './shared.js';

interface Props {
  api: Api;
  me: Me | null;
  route: string;
  onUnauthorized: () => void;
}

export function UpdatesPage({ api, me, route, onUnauthorized }: Props) {
  const id = route.split('/')[2];
  const { areas, devices, error } = useAreasAndDevices(api, onUnauthorized);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (id) return <RolloutDetail api={api} me={me} id={id} areas={areas} devices={devices ?? []} onUnauthorized={onUnauthorized} />;
  return <Overview api={api} me={me} areas={areas} devices={devices ?? []} onUnauthorized={onUnauthorized} />;
}

function Overview({ api, me, areas, devices, onUnauthorized }: { api: Api; me: Me | null; areas: Area[]; devices: Device[]; onUnauthorized: () => void }) {
  const { t, lang } = useT();
  const [releases, setReleases] = useState<Releases | null>(null);
  const [rollouts, setRollouts] = useState<Rollout[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadReleases = () => void api.releases().then(setReleases, onLoadError(lang, onUnauthorized, setError));
  useEffect(() => {
    loadReleases();
    void api.rollouts().then(setRollouts, onLoadError(lang, onUnauthorized, setError));
  }, [api]);
  useLive((event, data) => {
    if (event !== 'rollout') return;
    const r = data as Rollout;
    setRollouts((list) => list && upsertNewest(list, r));
  });
  const writer = may(me, 'updates:write');
  return (
    <div class="stack">
      <h1>{t.updatesTitle}</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <Rollouts rollouts={rollouts} releases={releases?.releases ?? []} areas={areas} />
      {writer && releases && <StartRollout api={api} releases={releases.releases} areas={areas} devices={devices} />}
      <section class="card scroll" tabIndex={0} aria-label={t.releases}>
        <h2>{t.releases}</h2>
        {releases && <ReleaseTable releases={releases.releases} />}
      </section>
      {writer && releases && <UploadRelease api={api} haveKeys={releases.keys.length > 0} onDone={loadReleases} />}
    </div>
  );
}

function Rollouts({ rollouts, releases, areas }: { rollouts: Rollout[] | null; releases: ReleaseListItem[]; areas: Area[] }) {
  const { t, locale } = useT();
  const versions = new Map(releases.map((r) => [r.id, r.version]));
  const areaNames = new Map(areas.map((a) => [a.id, a.name]));
  return (
    <section class="card scroll" tabIndex={0} aria-label={t.rollouts}>
      <h2>{t.rollouts}</h2>
      {rollouts === null ? (
        <p aria-busy="true">…</p>
      ) : rollouts.length === 0 ? (
        <p>{t.noRollouts}</p>
      ) : (
        <table data-testid="rollouts" class="cards">
          <thead>
            <tr><th scope="col">{t.version}</th><th scope="col">{t.state}</th><th scope="col">{t.wave}</th><th scope="col">{t.updateTargets}</th><th scope="col">{t.startedAt}</th></tr>
          </thead>
          <tbody>
            {rollouts.map((r) => (
              <tr key={r.id} data-state={r.state}>
                <th scope="row"><a href={`#/updates/${r.id}`}>{versions.get(r.releaseId) ?? r.releaseId}</a></th>
                <td><span class={`badge rollout-${r.state}`}>{t.rolloutStates[r.state] ?? r.state}</span></td>
                <td data-label={t.wave}>{r.wave + 1}</td>
                <td data-label={t.updateTargets}>{[...r.areaIds.map((a) => areaNames.get(a) ?? a), ...(r.deviceIds.length ? [t.waveSize(r.deviceIds.length)] : [])].join(', ')}</td>
                <td data-label={t.startedAt}>{new Date(r.createdAt).toLocaleString(locale)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Cumulative percentages as typed ("1, 10, 100"), or null when they do not rise to 100. */
function parseWaves(text: string): number[] | null {
  const waves = text.split(/[\s,;]+/).filter(Boolean).map(Number);
  const rising = waves.every((w, i) => w > 0 && w <= 100 && (i === 0 || w > waves[i - 1]!));
  return waves.length > 0 && rising && waves.at(-1) === 100 ? waves : null;
}

function StartRollout({ api, releases, areas, devices }: { api: Api; releases: ReleaseListItem[]; areas: Area[]; devices: Device[] }) {
  const { t, lang } = useT();
  const [releaseId, setReleaseId] = useState('');
  const [areaIds, setAreaIds] = useState<string[]>([]);
  const [deviceIds, setDeviceIds] = useState<string[]>([]);
  const [waves, setWaves] = useState('1, 10, 100');
  const [threshold, setThreshold] = useState(10);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const chosenRelease = releaseId || releases[0]?.id || '';
  const covered = useMemo(() => subtree(areas, areaIds), [areas, areaIds]);
  const count = devices.filter((d) => !d.disabled && (covered.has(d.areaId) || deviceIds.includes(d.id))).length;
  const sorted = useMemo(() => [...devices].sort((a, b) => a.name.localeCompare(b.name, 'vi')), [devices]);

  const start = async (e: Event) => {
    e.preventDefault();
    const planned = parseWaves(waves);
    const problem = !chosenRelease ? t.chooseRelease : areaIds.length + deviceIds.length === 0 ? t.chooseTargets : !planned ? t.badWaves : null;
    if (problem || !planned) return setNotice({ error: true, text: problem ?? t.badWaves });
    setBusy(true);
    setNotice(null);
    try {
      const made = await api.createRollout({ releaseId: chosenRelease, targets: { areaIds, deviceIds }, waves: planned, failureThreshold: threshold / 100 });
      location.hash = `#/updates/${made.id}`;
    } catch (err) {
      setNotice({ error: true, text: messageOf(err, lang) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card stack" onSubmit={(e) => void start(e)} data-testid="start-rollout">
      <h2>{t.startRollout}</h2>
      <label>
        {t.release}
        <select name="release" value={chosenRelease} onChange={(e) => setReleaseId(e.currentTarget.value)}>
          {releases.map((r) => <option key={r.id} value={r.id}>{`${r.version} (${r.arch})`}</option>)}
        </select>
      </label>
      <AreaPicker areas={areas} devices={devices} chosen={areaIds} onChange={setAreaIds} legend={t.updateTargets} />
      <label>
        {t.alsoDevices}
        <select name="devices" multiple size={Math.min(6, Math.max(3, sorted.length))} onChange={(e) => setDeviceIds([...e.currentTarget.selectedOptions].map((o) => o.value))}>
          {sorted.map((d) => <option key={d.id} value={d.id} selected={deviceIds.includes(d.id)}>{d.name}</option>)}
        </select>
      </label>
      <div class="row end">
        <label>
          {t.waves}
          <input name="waves" value={waves} onInput={(e) => setWaves(e.currentTarget.value)} aria-describedby="waves-help" />
        </label>
        <label class="short">
          {t.failureThreshold}
          <input name="threshold" type="number" min={0} max={99} step={1} value={threshold} onInput={(e) => setThreshold(Number(e.currentTarget.value))} aria-describedby="threshold-help" />
        </label>
      </div>
      <p class="muted" id="waves-help">{t.wavesHelp}</p>
      <p class="muted" id="threshold-help">{t.thresholdHelp}</p>
      <p data-testid="rollout-count">{t.rolloutCount(count)}</p>
      <NoticeLine notice={notice} />
      <button type="submit" disabled={busy || releases.length === 0}>{t.startRollout}</button>
    </form>
  );
}

function ReleaseTable({ releases }: { releases: ReleaseListItem[] }) {
  const { t, locale } = useT();
  if (releases.length === 0) return <p>{t.noReleases}</p>;
  const mib = (bytes: number) => `${(bytes / 1048576).toLocaleString(locale, { maximumFractionDigits: 1 })} MiB`;
  return (
    <table data-testid="releases" class="cards">
      <thead>
        <tr>
          <th scope="col">{t.version}</th><th scope="col">{t.arch}</th><th scope="col">{t.nodeAbi}</th><th scope="col">{t.size}</th>
          <th scope="col">{t.files}</th><th scope="col">{t.signedBy}</th><th scope="col">{t.uploadedAt}</th>
        </tr>
      </thead>
      <tbody>
        {releases.map((r) => (
          <tr key={r.id}>
            <th scope="row">{r.version}</th>
            <td data-label={t.arch}>{r.arch}</td>
            <td data-label={t.nodeAbi}>{r.nodeAbi ?? t.anyNode}</td>
            <td data-label={t.size}>{mib(r.sizeBytes)}</td>
            <td data-label={t.files}>{r.files.toLocaleString(locale)}</td>
            <td data-label={t.signedBy}><code>{r.signedBy}</code></td>
            <td data-label={t.uploadedAt}>{new Date(r.createdAt).toLocaleString(locale)}{r.uploadedByName ? ` · ${r.uploadedByName}` : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A bundle from `loalang release pack`, sent with a progress bar; the server checks its signature. */
function UploadRelease({ api, haveKeys, onDone }: { api: Api; haveKeys: boolean; onDone: () => void }) {
  const { t, lang } = useT();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setNotice(null);
    setProgress(0);
    try {
      const release = await api.uploadRelease(file, setProgress);
      setFile(null);
      (e.target as HTMLFormElement).reset();
      setNotice({ error: false, text: t.releaseUploaded(release.version) });
      onDone();
    } catch (err) {
      setNotice({ error: true, text: messageOf(err, lang) });
    } finally {
      setProgress(null);
    }
  };
  return (
    <form class="card stack" onSubmit={(e) => void send(e)} data-testid="upload-release">
      <h2>{t.uploadRelease}</h2>
      {!haveKeys && <p class="warn">{t.noReleaseKeys}</p>}
      <label>
        {t.releaseFile}
        <input type="file" name="file" accept=".tar.gz,.tgz,application/gzip" required onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </label>
      {progress !== null && (
        <label>
          {t.uploading}
          <progress max={1} value={progress} />
        </label>
      )}
      <NoticeLine notice={notice} />
      <button type="submit" disabled={!file || progress !== null}>{t.uploadRelease}</button>
    </form>
  );
}
