/**
 * The audio library: upload a recording (with progress), compose a bulletin read out by the
 * speech engine, hear either, delete what is no longer needed; and the named live sources
 * (VOV, the provincial station) schedules can relay.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, ContentItem, Me, StreamSource } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf, onLoadError } from './errors.js';
import { AreaSelect, may, type Notice, NoticeLine, Preview } from './shared.js';

interface Props {
  api: Api;
  me: Me | null;
  onUnauthorized: () => void;
}

const minutes = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}`;

export function ContentPage({ api, me, onUnauthorized }: Props) {
  const { t, lang, locale } = useT();
  const [areas, setAreas] = useState<Area[]>([]);
  const [items, setItems] = useState<ContentItem[] | null>(null);
  const [streams, setStreams] = useState<{ allowedHosts: string[] | null; sources: StreamSource[] }>({ allowedHosts: null, sources: [] });
  const [message, setMessage] = useState<Notice>(null);
  const [previews, setPreviews] = useState<Record<string, string>>({});
  // Speech made for alerts stays out of the list unless asked for (issue 14).
  const [withAlerts, setWithAlerts] = useState(false);
  const fail = (err: unknown) => setMessage({ error: true, text: messageOf(err, lang) });
  const reload = () => Promise.all([api.content(withAlerts), api.streams()]).then(([c, s]) => (setItems(c), setStreams(s)), onLoadError(lang, onUnauthorized, (text) => setMessage({ error: true, text })));
  useEffect(() => void api.areas().then(setAreas, () => undefined), [api]);
  useEffect(() => void reload(), [api, withAlerts]);
  const writer = may(me, 'content:write');

  const listen = async (id: string) => {
    try {
      const url = await api.audioUrl(id);
      setPreviews((p) => ({ ...p, [id]: url }));
    } catch (err) {
      fail(err);
    }
  };
  const remove = async (item: ContentItem) => {
    if (!confirm(t.confirmDelete(item.title))) return;
    try {
      await api.deleteContent(item.id);
      await reload();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <div class="stack">
      <NoticeLine notice={message} card />
      {writer && me && (
        <div class="row top">
          <Upload api={api} me={me} areas={areas} onDone={(item) => (setMessage({ error: false, text: t.uploaded(item.title) }), void reload())} />
          <Bulletin api={api} me={me} areas={areas} onDone={(item) => (setMessage({ error: false, text: t.saved }), void reload(), void listen(item.id))} />
        </div>
      )}
      <section class="card scroll" tabIndex={0} aria-label={t.library}>
        <h1>{t.library}</h1>
        <label class="check">
          <input type="checkbox" name="with-alerts" checked={withAlerts} onChange={(e) => setWithAlerts(e.currentTarget.checked)} />
          {t.showAlertAudio}
        </label>
        {items && items.length === 0 && <p>{t.noContent}</p>}
        <table data-testid="library">
          <thead>
            <tr><th scope="col">{t.alertTitle}</th><th scope="col">{t.duration}</th><th scope="col">{t.area}</th><th scope="col">{t.added}</th><th scope="col" /></tr>
          </thead>
          <tbody>
            {(items ?? []).map((c) => (
              <tr key={c.id}>
                <th scope="row">
                  {c.title} {c.kind === 'alert' && <span class="badge">{t.alertAudio}</span>}
                </th>
                <td>{minutes(c.durationMs)}</td>
                <td>{areas.find((a) => a.id === c.areaId)?.name ?? ''}</td>
                <td>{new Date(c.createdAt).toLocaleString(locale)}</td>
                <td class="row">
                  {previews[c.id] ? <audio controls src={previews[c.id]} aria-label={`${t.preview}: ${c.title}`} /> : <button type="button" onClick={() => void listen(c.id)}>{t.preview}</button>}
                  {may(me, 'schedules:write') && <a href={`#/schedules/new/${c.id}`}>{t.scheduleIt}</a>}
                  {writer && <button type="button" class="link" onClick={() => void remove(c)}>{t.delete}</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <Streams api={api} me={me} areas={areas} streams={streams} writer={writer} onChange={() => void reload()} />
    </div>
  );
}

/** A recording from the computer, sent with a progress bar; the server checks and normalises it. */
function Upload({ api, me, areas, onDone }: { api: Api; me: Me; areas: Area[]; onDone: (item: ContentItem) => void }) {
  const { t, lang } = useT();
  const [file, setFile] = useState<File | null>(null);
  const [title, setTitle] = useState('');
  const [areaId, setAreaId] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setProgress(0);
    try {
      const item = await api.upload(file, { title: title.trim() || file.name.replace(/\.[^.]+$/, ''), areaId: areaId || me.areaId }, setProgress);
      setFile(null);
      setTitle('');
      (e.target as HTMLFormElement).reset();
      onDone(item);
    } catch (err) {
      setError(messageOf(err, lang));
    } finally {
      setProgress(null);
    }
  };
  return (
    <form class="card stack grow" onSubmit={(e) => void send(e)}>
      <h2>{t.upload}</h2>
      <label>
        {t.audioFile}
        <input type="file" name="file" accept="audio/*,.mp3,.wav,.ogg,.m4a,.aac,.flac,.opus" required onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      </label>
      <label>
        {t.alertTitle}
        <input name="upload-title" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <AreaSelect areas={areas} value={areaId || me.areaId} onChange={setAreaId} all={false} />
      {progress !== null && (
        <label>
          {progress < 1 ? t.uploading : t.processing}
          <progress max={1} value={progress} data-testid="upload-progress" />
        </label>
      )}
      {error && <p role="alert" class="error">{error}</p>}
      <button type="submit" disabled={!file || progress !== null}>{t.upload}</button>
    </form>
  );
}

/** A bulletin typed and read out by the speech engine, with a preview. */
export function Bulletin({ api, me, areas, onDone }: { api: Api; me: Me; areas: Area[]; onDone: (item: ContentItem) => void }) {
  const { t, lang } = useT();
  const [title, setTitle] = useState('');
  const [text, setText] = useState('');
  const [areaId, setAreaId] = useState('');
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const make = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const item = await api.speak(title.trim() || text.slice(0, 60), text, areaId || me.areaId);
      setPreview(await api.audioUrl(item.id));
      onDone(item);
    } catch (err) {
      setError(messageOf(err, lang));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card stack grow" onSubmit={(e) => void make(e)}>
      <h2>{t.bulletin}</h2>
      <label>
        {t.alertTitle}
        <input name="bulletin-title" value={title} maxLength={200} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        {t.bulletinText}
        <textarea name="bulletin-text" rows={4} required maxLength={5000} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </label>
      <AreaSelect areas={areas} value={areaId || me.areaId} onChange={setAreaId} all={false} />
      {error && <p role="alert" class="error">{error}</p>}
      <div class="row">
        <button type="submit" disabled={busy} aria-busy={busy}>{busy ? t.speaking : t.makeAudio}</button>
        <Preview url={preview} />
      </div>
    </form>
  );
}

function Streams({ api, me, areas, streams, writer, onChange }: { api: Api; me: Me | null; areas: Area[]; streams: { allowedHosts: string[] | null; sources: StreamSource[] }; writer: boolean; onChange: () => void }) {
  const { t, lang } = useT();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [error, setError] = useState<string | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api.createStream({ name: name.trim(), url: url.trim(), areaId: me?.areaId ?? '' });
      setName('');
      setUrl('');
      onChange();
    } catch (err) {
      setError(messageOf(err, lang));
    }
  };
  const remove = async (s: StreamSource) => {
    if (!confirm(t.confirmDelete(s.name))) return;
    await api.deleteStream(s.id).then(onChange, (err: unknown) => setError(messageOf(err, lang)));
  };
  return (
    <section class="card stack">
      <h2>{t.streamSources}</h2>
      <p>{streams.allowedHosts ? t.allowedHosts(streams.allowedHosts.join(', ')) : t.anyHost}</p>
      <table data-testid="streams">
        <tbody>
          {streams.sources.map((s) => (
            <tr key={s.id}>
              <th scope="row">{s.name}</th>
              <td><code>{s.url}</code></td>
              <td>{areas.find((a) => a.id === s.areaId)?.name ?? ''}</td>
              <td>{writer && <button type="button" class="link" onClick={() => void remove(s)}>{t.delete}</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {writer && (
        <form class="row filters" onSubmit={(e) => void add(e)}>
          <label>
            {t.streamName}
            <input name="stream-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label class="grow">
            {t.streamUrl}
            <input name="stream-url" type="url" required placeholder="https://" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          </label>
          <button type="submit">{t.addStream}</button>
        </form>
      )}
      {error && <p role="alert" class="error">{error}</p>}
    </section>
  );
}
