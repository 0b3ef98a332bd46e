/**
 * One rollout of an agent release (issue 20): its state (a halt and why, prominently), each
 * wave's progress as a bar and counts by state, every speaker's state with its reason in plain
 * words, and pause / resume / cancel. Kept current by the live stream's `rollout` events.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api, Area, Device, Me, Rollout, RolloutDevice, RolloutView } from '../api.js';
import { useT, type Dict } from '../i18n.js';
import { useLive } from '../live.js';
import { messageOf, onLoadError } from './errors.js';
import { may, type Notice, NoticeLine } from './shared.js';

/** A speaker's state as shown: `offered` before its wave started is "not yet". */
type Shown = RolloutDevice['state'] | 'pending';
export const shownState = (d: Pick<RolloutDevice, 'state' | 'offeredAt'>): Shown => (d.state === 'offered' && !d.offeredAt ? 'pending' : d.state);
/** In the order a box goes through them, then the ways it does not. */
const ORDER: Shown[] = ['confirmed', 'installed', 'verified', 'downloading', 'waiting', 'offered', 'pending', 'failed', 'rolled-back', 'refused', 'withdrawn'];
const FAILED: Shown[] = ['failed', 'rolled-back', 'refused'];
const OPEN: Shown[] = ['offered', 'waiting', 'downloading', 'verified', 'installed'];
/** Rows of the device table at most (a province's rollout has thousands; the waves count them all). */
const LIMIT = 500;
/** The colour of a state's part of a wave's bar. */
const tone = (s: Shown) => (s === 'confirmed' ? 'ok' : FAILED.includes(s) ? 'bad' : s === 'withdrawn' ? 'off' : s === 'pending' ? 'later' : 'open');

/** When the speaker got where it is: offered when its wave started, else its last step. */
export const changedAt = (d: Pick<RolloutDevice, 'state' | 'offeredAt' | 'updatedAt'>) => (d.state === 'offered' && d.offeredAt ? d.offeredAt : d.updatedAt);

export const stateLabel = (t: Dict, s: Shown) => (s === 'pending' ? t.notYetOffered : (t.updateStates[s] ?? s));

/** A reason in the user's words: a known code (a box's refusal, the server's withdrawal) translated, its detail kept as the box said it. */
export function UpdateReason({ reason }: { reason: string | null }) {
  const { t } = useT();
  if (!reason) return null;
  const cut = reason.indexOf(': ');
  const label = t.updateReasons[cut > 0 ? reason.slice(0, cut) : reason];
  if (!label) return <span class="reason">{reason}</span>;
  return (
    <span class="reason">
      {label}
      {cut > 0 && <small> ({reason.slice(cut + 2)})</small>}
    </span>
  );
}

/** The time of an instant today, its date and time otherwise. */
export function shortTime(iso: string, locale: string): string {
  const at = new Date(iso);
  const today = at.toDateString() === new Date().toDateString();
  return today ? at.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : at.toLocaleString(locale, { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' });
}

/** The server's halt reason ("wave 1: 2 of 10 devices failed (threshold 10 %)") in the user's words. */
function haltText(t: Dict, reason: string): string {
  const m = /^wave (\d+): (\d+) of (\d+) devices failed \(threshold (\d+) %\)$/.exec(reason);
  return m ? t.haltedBecause(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])) : reason;
}

/** Loads the rollout and loads it again on each live change of it (one load at a time). */
function useRollout(api: Api, id: string, onUnauthorized: () => void): { view: RolloutView | null; error: string | null; reload: () => void; merge: (r: Rollout) => void } {
  const { lang } = useT();
  const [view, setView] = useState<RolloutView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loading = useRef(false);
  const again = useRef(false);
  const reload = () => {
    if (loading.current) return void (again.current = true);
    loading.current = true;
    api
      .rollout(id)
      .then(setView, onLoadError(lang, onUnauthorized, setError))
      .finally(() => {
        loading.current = false;
        if (again.current) {
          again.current = false;
          reload();
        }
      });
  };
  useEffect(() => {
    setView(null);
    reload();
  }, [api, id]);
  useLive((event, data) => {
    if (event === 'rollout' && (data as Rollout).id === id) reload();
  });
  return { view, error, reload, merge: (r) => setView((v) => v && { ...v, ...r }) };
}

export function RolloutDetail({ api, me, id, areas, devices, onUnauthorized }: { api: Api; me: Me | null; id: string; areas: Area[]; devices: Device[]; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const { view, error, reload, merge } = useRollout(api, id, onUnauthorized);
  const [notice, setNotice] = useState<Notice>(null);
  const [which, setWhich] = useState<'' | 'problems' | 'open'>('');
  const names = useMemo(() => new Map(devices.map((d) => [d.id, d.name])), [devices]);
  const areaNames = useMemo(() => new Map(areas.map((a) => [a.id, a.name])), [areas]);

  if (error) return <p role="alert" class="error">{error}</p>;
  if (!view) return <p aria-busy="true">…</p>;
  const waves = Math.max(0, ...view.devices.map((d) => d.wave + 1));
  const move = async (action: 'pause' | 'resume' | 'cancel') => {
    if (action === 'cancel' && !confirm(t.confirmCancelRollout)) return;
    setNotice(null);
    try {
      merge(await api.moveRollout(id, action));
      reload();
    } catch (err) {
      setNotice({ error: true, text: messageOf(err, lang) });
    }
  };
  const open = view.state === 'running' || view.state === 'paused';
  const shown = view.devices.filter((d) => !which || (which === 'problems' ? FAILED : OPEN).includes(shownState(d)));
  const nameOf = (deviceId: string) => names.get(deviceId) ?? deviceId;
  const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString(locale) : '');

  return (
    <div class="stack">
      <a href="#/updates">{t.back}</a>
      <section class="card stack">
        <h1>{t.rolloutTo(view.release.version)}</h1>
        <div>
          <span class={`badge rollout-${view.state}`} data-testid="rollout-state">{t.rolloutStates[view.state] ?? view.state}</span>
          {open && waves > 0 && <> · <span data-testid="rollout-wave">{t.waveOf(view.wave + 1, waves)}</span></>}
        </div>
        {view.state === 'halted' && view.haltReason && (
          <div class="confirm" role="alert" data-testid="halt-reason">
            <h2>{t.haltedTitle}</h2>
            <p>{haltText(t, view.haltReason)}</p>
          </div>
        )}
        <dl class="facts">
          <div><dt>{t.updateTargets}</dt><dd>{[...view.areaIds.map((a) => areaNames.get(a) ?? a), ...view.deviceIds.map(nameOf)].join(', ')}</dd></div>
          <div><dt>{t.wavesShort}</dt><dd>{view.waves.map((w) => `${w}\u00a0%`).join(', ')}</dd></div>
          <div><dt>{t.thresholdShort}</dt><dd>{`${Math.round(view.failureThreshold * 100)}\u00a0%`}</dd></div>
          <div><dt>{t.startedAt}</dt><dd>{when(view.createdAt)}</dd></div>
          {view.endedAt && <div><dt>{t.endedAt}</dt><dd>{when(view.endedAt)}</dd></div>}
        </dl>
        {may(me, 'updates:write') && open && (
          <div class="row">
            {view.state === 'running' ? <button type="button" onClick={() => void move('pause')}>{t.pause}</button> : <button type="button" class="primary" onClick={() => void move('resume')}>{t.resume}</button>}
            <button type="button" class="danger" onClick={() => void move('cancel')}>{t.cancelRollout}</button>
          </div>
        )}
        <NoticeLine notice={notice} />
      </section>
      <section class="card">
        <h2>{t.waveProgress}</h2>
        <ul class="plain waves" data-testid="waves">
          {Array.from({ length: waves }, (_, w) => (
            <WaveProgress key={w} wave={w} devices={view.devices.filter((d) => d.wave === w)} phase={w < view.wave ? 'done' : w === view.wave && open ? 'current' : w > view.wave ? 'later' : null} />
          ))}
        </ul>
      </section>
      <section class="card" aria-labelledby="rollout-devices-title">
        <h2 id="rollout-devices-title">{t.devices}</h2>
        <form class="row filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            {t.showWhich}
            <select name="which" value={which} onChange={(e) => setWhich(e.currentTarget.value as typeof which)}>
              <option value="">{t.all}</option>
              <option value="problems">{t.showProblems}</option>
              <option value="open">{t.showOpen}</option>
            </select>
          </label>
        </form>
        {shown.length > LIMIT && <p>{t.shownOf(LIMIT, shown.length)}</p>}
        <table data-testid="rollout-devices" class="cards">
          <thead>
            <tr><th scope="col">{t.device}</th><th scope="col">{t.wave}</th><th scope="col">{t.state}</th><th scope="col">{t.reason}</th><th scope="col">{t.at}</th></tr>
          </thead>
          <tbody>
            {shown.slice(0, LIMIT).map((d) => {
              const s = shownState(d);
              return (
                <tr key={d.deviceId} data-state={s}>
                  <th scope="row"><a href={`#/devices/${d.deviceId}`}>{nameOf(d.deviceId)}</a></th>
                  <td data-label={t.wave}>{d.wave + 1}</td>
                  <td class={`state-${s}`}>{stateLabel(t, s)}</td>
                  <td class="full" data-label={d.reason ? t.reason : undefined}><UpdateReason reason={d.reason} /></td>
                  <td>{s === 'pending' ? '' : <time dateTime={changedAt(d)}>{shortTime(changedAt(d), locale)}</time>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** One wave: how many speakers, whether it is under way, and a bar and counts by state. */
function WaveProgress({ wave, devices, phase }: { wave: number; devices: RolloutDevice[]; phase: 'done' | 'current' | 'later' | null }) {
  const { t } = useT();
  const counts = new Map<Shown, number>();
  for (const d of devices) counts.set(shownState(d), (counts.get(shownState(d)) ?? 0) + 1);
  const present = ORDER.filter((s) => counts.has(s));
  return (
    <li class="wave" data-testid={`wave-${wave + 1}`} data-phase={phase ?? ''}>
      <p class="row middle">
        <strong>{t.wave} {wave + 1}</strong>
        <span>{t.waveSize(devices.length)}</span>
        {phase && <span class={`phase ${phase}`}>{t.wavePhase[phase]}</span>}
      </p>
      <div class="bar" aria-hidden="true">
        {present.map((s) => <span key={s} class={tone(s)} style={{ width: `${((counts.get(s) ?? 0) / devices.length) * 100}%` }} />)}
      </div>
      <ul class="totals">
        {present.map((s) => (
          <li key={s} class={`state-${s}`} data-state={s}>
            <strong>{counts.get(s)}</strong> {stateLabel(t, s)}
          </li>
        ))}
      </ul>
    </li>
  );
}
