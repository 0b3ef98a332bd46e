/**
 * Webhooks on the admin page (issue 21 item 5): the subscriptions of the admin's areas, a form to
 * make one (name, URL, events, area), its signing secret shown once with a copy button, rotate
 * and delete with a confirmation, a test delivery, and each webhook's delivery log (state,
 * attempts, last HTTP status or error) with "send again" for failed and dropped deliveries.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, Webhook, WebhookDelivery, WebhookSecret } from '../api.js';
import { useT } from '../i18n.js';
import { AreaSelect, NoticeLine, ShownOnce, useActions } from './shared.js';

const EVENTS: Webhook['events'] = ['schedule.approved', 'play.reported', 'alert.delivered', 'device.offline'];
const EMPTY = { name: '', url: 'https://', events: ['schedule.approved'] as Webhook['events'], areaId: '' };

export function Webhooks({ api, areas, onUnauthorized }: { api: Api; areas: Area[]; onUnauthorized: () => void }) {
  const { t, locale } = useT();
  const [hooks, setHooks] = useState<Webhook[]>([]);
  const [form, setForm] = useState(EMPTY);
  const [shown, setShown] = useState<WebhookSecret | null>(null);
  const [log, setLog] = useState<{ hook: Webhook; deliveries: WebhookDelivery[] } | null>(null);
  const load = () => void api.webhooks().then(setHooks, fail);
  const { message, setMessage, fail, run } = useActions(onUnauthorized, load);
  useEffect(load, [api]);
  const areaName = (id: string) => areas.find((a) => a.id === id)?.name ?? id;
  const when = (at: string | null) => (at ? new Date(at).toLocaleString(locale) : '—');
  const openLog = (hook: Webhook) => run(async () => setLog({ hook, deliveries: await api.webhookDeliveries(hook.id) }));
  const older = () => {
    const last = log?.deliveries.at(-1);
    if (!log || !last) return;
    void run(async () => setLog({ hook: log.hook, deliveries: [...log.deliveries, ...(await api.webhookDeliveries(log.hook.id, last.id))] }));
  };
  const create = (e: Event) => {
    e.preventDefault();
    const areaId = form.areaId || areas[0]?.id || '';
    void run(async () => {
      setShown(await api.createWebhook({ ...form, name: form.name.trim(), url: form.url.trim(), areaId }));
      setForm({ ...EMPTY, areaId });
    });
  };
  const toggle = (event: Webhook['events'][number], on: boolean) => setForm({ ...form, events: on ? [...form.events, event] : form.events.filter((x) => x !== event) });
  const rotate = (w: Webhook) => confirm(t.confirmRotateSecret(w.name)) && void run(async () => setShown(await api.rotateWebhookSecret(w.id)));
  const remove = (w: Webhook) =>
    confirm(t.confirmDeleteWebhook(w.name)) &&
    void run(async () => {
      await api.deleteWebhook(w.id);
      if (log?.hook.id === w.id) setLog(null);
      setMessage({ error: false, text: t.webhookDeleted(w.name) });
    });
  const ping = (w: Webhook) =>
    void run(async () => {
      await api.pingWebhook(w.id);
      setMessage({ error: false, text: t.pingQueued });
      setLog({ hook: w, deliveries: await api.webhookDeliveries(w.id) });
    });
  const retry = (d: WebhookDelivery) =>
    log &&
    void run(async () => {
      await api.retryWebhookDelivery(d.id);
      setLog({ hook: log.hook, deliveries: await api.webhookDeliveries(log.hook.id) });
    });

  return (
    <section class="card stack" data-testid="webhooks">
      <h2>{t.webhooks}</h2>
      <p>{t.webhooksHelp}</p>
      {shown && (
        <ShownOnce
          testId="new-secret"
          title={t.newSecretFor(shown.webhook.name)}
          value={shown.secret}
          warning={t.secretShownOnce}
          copyLabel={t.copySecret}
          doneLabel={t.doneWithSecret}
          onCopied={() => setMessage({ error: false, text: t.secretCopied })}
          onDone={() => setShown(null)}
        />
      )}
      <div class="scroll" tabIndex={0} role="region" aria-label={t.webhooks}>
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">{t.whName}</th><th scope="col">{t.whUrl}</th><th scope="col">{t.whEvents}</th><th scope="col">{t.area}</th><th scope="col">{t.status}</th><th />
            </tr>
          </thead>
          <tbody>
            {hooks.map((w) => (
              <tr key={w.id}>
                <th scope="row" data-label={t.whName}>{w.name}</th>
                <td data-label={t.whUrl}><code>{w.url}</code></td>
                <td data-label={t.whEvents}>{w.events.map((e) => t.whEventNames[e] ?? e).join(', ')}</td>
                <td data-label={t.area}>{areaName(w.areaId)}</td>
                <td data-label={t.status}>{w.active ? t.whActive : t.whDisabled}</td>
                <td class="row">
                  <button type="button" aria-label={`${t.showDeliveries}: ${w.name}`} onClick={() => void openLog(w)}>{t.showDeliveries}</button>
                  {w.active && <button type="button" aria-label={`${t.pingWebhook}: ${w.name}`} onClick={() => ping(w)}>{t.pingWebhook}</button>}
                  <button type="button" aria-label={`${t.rotateWebhookSecret}: ${w.name}`} onClick={() => rotate(w)}>{t.rotateWebhookSecret}</button>
                  <button type="button" class="danger" aria-label={`${t.deleteWebhook}: ${w.name}`} onClick={() => remove(w)}>{t.deleteWebhook}</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {log && (
        <div class="stack" data-testid="webhook-deliveries">
          <h3>{t.deliveriesOf(log.hook.name)}</h3>
          {log.deliveries.length === 0 ? (
            <p class="muted">{t.noDeliveries}</p>
          ) : (
            <div class="scroll" tabIndex={0} role="region" aria-label={t.deliveriesOf(log.hook.name)}>
              <table class="cards">
                <thead>
                  <tr>
                    <th scope="col">{t.whEvents}</th><th scope="col">{t.status}</th><th scope="col">{t.attempts}</th><th scope="col">{t.lastResult}</th><th scope="col">{t.createdAtLabel}</th><th />
                  </tr>
                </thead>
                <tbody>
                  {log.deliveries.map((d) => (
                    <tr key={d.id}>
                      <th scope="row" data-label={t.whEvents}>{t.whEventNames[d.event] ?? d.event}</th>
                      <td data-label={t.status}>{t.deliveryStates[d.state] ?? d.state}</td>
                      <td data-label={t.attempts}>{d.attempts}</td>
                      <td data-label={t.lastResult}>{d.lastStatus !== null ? `HTTP ${d.lastStatus}` : ''}{d.lastError && <div class="muted">{d.lastError}</div>}{d.lastAttemptAt && <div class="muted">{when(d.lastAttemptAt)}</div>}</td>
                      <td data-label={t.createdAtLabel}>{when(d.createdAt)}</td>
                      <td>{(d.state === 'failed' || d.state === 'dropped') && <button type="button" onClick={() => retry(d)}>{t.retryDelivery}</button>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {log.deliveries.length >= 20 && <button type="button" class="link" onClick={older}>{t.olderDeliveries}</button>}
        </div>
      )}
      <form class="row filters" onSubmit={create}>
        <h3>{t.addWebhook}</h3>
        <label>
          {t.whName}
          <input name="wh-name" required maxLength={100} value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </label>
        <label>
          {t.whUrl}
          <input name="wh-url" type="url" required maxLength={2000} pattern="https?://.+" value={form.url} onInput={(e) => setForm({ ...form, url: e.currentTarget.value })} />
        </label>
        <fieldset>
          <legend>{t.whEvents}</legend>
          {EVENTS.map((ev) => (
            <label key={ev} class="check">
              <input type="checkbox" name={`wh-event-${ev}`} checked={form.events.includes(ev)} onChange={(e) => toggle(ev, e.currentTarget.checked)} /> {t.whEventNames[ev]}
            </label>
          ))}
        </fieldset>
        <AreaSelect areas={areas} value={form.areaId || areas[0]?.id || ''} onChange={(areaId) => setForm({ ...form, areaId })} all={false} />
        <button type="submit" disabled={form.events.length === 0}>{t.addWebhook}</button>
      </form>
      <NoticeLine notice={message} />
    </section>
  );
}
