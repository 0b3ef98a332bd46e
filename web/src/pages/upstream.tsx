/**
 * The HTTTN connection on the admin page (issue 21): where the upstream connector sends, with
 * which mapping and how often, what waits and since when, the last error, a Push now button, and
 * the last messages of its delivery log with Send again for those given up.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, OutboxMessageView, UpstreamStatusView } from '../api.js';
import { useT } from '../i18n.js';
import { NoticeLine, useActions } from './shared.js';

export function Upstream({ api, canWrite, onUnauthorized }: { api: Api; canWrite: boolean; onUnauthorized: () => void }) {
  const { t, locale } = useT();
  const [status, setStatus] = useState<UpstreamStatusView | null>(null);
  const [log, setLog] = useState<OutboxMessageView[]>([]);
  const load = () =>
    void api.upstream().then((s) => {
      setStatus(s);
      if (s.enabled) void api.upstreamMessages().then(setLog, fail);
    }, fail);
  const { message, setMessage, fail, run } = useActions(onUnauthorized, load);
  useEffect(load, [api]);
  const when = (at: string | null) => (at ? new Date(at).toLocaleString(locale) : '—');
  const push = () =>
    void run(async () => {
      const { outcomes } = await api.pushUpstream();
      setMessage({ error: false, text: t.pushed(outcomes.reduce((n, o) => n + o.queued, 0)) });
    });
  const retry = (m: OutboxMessageView) => void run(async () => void (await api.retryUpstreamMessage(m.id)));

  if (!status) return <section class="card stack" data-testid="upstream"><h2>{t.upstream}</h2><NoticeLine notice={message} /></section>;
  const waiting = status.counts.pending ?? 0;
  return (
    <section class="card stack" data-testid="upstream">
      <h2>{t.upstream}</h2>
      <p>{t.upstreamHelp}</p>
      {!status.enabled ? (
        <p class="muted">{t.upstreamOff}</p>
      ) : (
        <>
          <dl class="facts">
            <div><dt>{t.upstreamUrl}</dt><dd><code>{status.url}</code></dd></div>
            <div><dt>{t.upstreamMapping}</dt><dd><code>{status.mapping}</code> — {status.everyMinutes !== null && t.upstreamEvery(status.everyMinutes)}</dd></div>
            <div>
              <dt>{t.status}</dt>
              <dd data-testid="upstream-waiting" class={waiting ? 'warn' : ''}>
                {waiting ? `${t.upstreamWaiting(waiting)} (${t.upstreamWaitingSince(when(status.oldestPendingAt))})` : t.upstreamAllSent}
                {status.counts.failed ? ` · ${t.upstreamFailed(status.counts.failed)}` : ''}
              </dd>
            </div>
            <div><dt>{t.upstreamLastDelivered}</dt><dd>{when(status.lastDeliveredAt)}</dd></div>
            {status.lastError && <div><dt>{t.upstreamLastError}</dt><dd><code>{status.lastError}</code></dd></div>}
          </dl>
          {canWrite && <div class="row"><button type="button" onClick={push}>{t.pushNow}</button></div>}
          <h3>{t.deliveryLog}</h3>
          <div class="scroll" tabIndex={0} role="region" aria-label={t.deliveryLog}>
            <table class="cards">
              <thead>
                <tr>
                  <th scope="col">{t.written}</th><th scope="col">{t.kind}</th><th scope="col">{t.status}</th><th scope="col">{t.attempts}</th><th scope="col">{t.lastAnswer}</th><th />
                </tr>
              </thead>
              <tbody>
                {log.map((m) => (
                  <tr key={m.id}>
                    <th scope="row" data-label={t.written}>{when(m.createdAt)}</th>
                    <td data-label={t.kind}>{t.outboxKinds[m.kind] ?? m.kind}</td>
                    <td data-label={t.status}>{t.outboxStates[m.state] ?? m.state}{m.deliveredAt && ` · ${when(m.deliveredAt)}`}</td>
                    <td data-label={t.attempts}>{m.attempts}</td>
                    <td data-label={t.lastAnswer}>{m.lastStatus ?? ''}{m.lastError && <div class="muted">{m.lastError}</div>}</td>
                    <td>{canWrite && (m.state === 'failed' || m.state === 'dropped') && <button type="button" aria-label={`${t.sendAgain}: ${m.id}`} onClick={() => retry(m)}>{t.sendAgain}</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <NoticeLine notice={message} />
    </section>
  );
}
