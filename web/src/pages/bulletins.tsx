/**
 * Bulletins the province's source-information system (HTTTN) delivered (issue 21): read-only,
 * on the schedules page. Each shows its state, priority, areas, validity and why it is where it
 * is; one that became a schedule links to that schedule's row.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, Bulletin } from '../api.js';
import { useT } from '../i18n.js';

interface Props {
  api: Api;
  areas: Area[];
  /** Re-read when the schedules change (an approval moves a bulletin on). */
  version: string;
}

/** Reasons are stored "Vietnamese / English": the reader's half. */
const half = (reason: string, lang: 'vi' | 'en') => {
  const at = reason.indexOf(' / ');
  return at < 0 ? reason : lang === 'vi' ? reason.slice(0, at) : reason.slice(at + 3);
};

export function BulletinList({ api, areas, version }: Props) {
  const { t, lang, locale } = useT();
  const [bulletins, setBulletins] = useState<Bulletin[] | null>(null);
  useEffect(() => {
    let current = true;
    // Only those who may read schedules get an answer; the others see nothing here.
    api.bulletins().then((b) => current && setBulletins(b), () => current && setBulletins([]));
    return () => {
      current = false;
    };
  }, [api, version]);
  if (bulletins === null) return null;
  const when = (iso: string) => new Date(iso).toLocaleString(locale, { dateStyle: 'short', timeStyle: 'short' });
  const showSchedule = (id: string) => document.getElementById(`schedule-${id}`)?.scrollIntoView({ block: 'center' });
  return (
    <section class="card stack scroll" tabIndex={0} aria-labelledby="bulletins-title">
      <h2 id="bulletins-title">{t.bulletinsTitle}</h2>
      {bulletins.length === 0 ? (
        <p>{t.bulletinsNone}</p>
      ) : (
        <table class="cards" data-testid="bulletins">
          <thead>
            <tr>{t.bulletinColumns.map((c) => <th scope="col" key={c}>{c}</th>)}</tr>
          </thead>
          <tbody>
            {bulletins.map((b) => {
              const [title, state, priority, where, valid, note, schedule] = t.bulletinColumns;
              const notes = [b.reason ? half(b.reason, lang) : '', b.counts ? t.bulletinCounts(b.counts.played, b.counts.targeted, b.counts.failed, b.counts.noReport) : '', b.unmatchedCodes.length ? t.bulletinUnmatched(b.unmatchedCodes.join(', ')) : '']
                .filter(Boolean)
                .join(' · ');
              return (
                <tr key={b.id} data-state={b.state}>
                  <th scope="row" data-label={title}>
                    {b.title} <small>({b.upstreamId})</small>
                  </th>
                  <td data-label={state}>{t.bulletinStates[b.state] ?? b.state}</td>
                  <td data-label={priority}>{t.priorities[b.priority]}</td>
                  <td data-label={where}>{b.areaIds.map((id) => areas.find((a) => a.id === id)?.name ?? id).join(', ')}</td>
                  <td data-label={valid}>
                    {when(b.validFrom)}
                    {b.validUntil ? ` – ${when(b.validUntil)}` : ''}
                  </td>
                  <td data-label={note}>{notes}</td>
                  <td data-label={schedule}>
                    {b.scheduleId && (
                      <button type="button" class="link" onClick={() => showSchedule(b.scheduleId!)}>
                        {t.showSchedule}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
