/**
 * Service accounts on the admin page (issue 21): the API keys of the admin's areas (name, role,
 * area, key prefix, expiry, last use, state), a form to make one, and rotate and revoke with a
 * confirmation. A new key is shown once, with a copy button and the warning that it will not be
 * shown again; the server keeps only its hash.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, Me, ServiceAccount, ServiceAccountKey } from '../api.js';
import { useT } from '../i18n.js';
import { AreaSelect, NoticeLine, ROLE_CHOICES, ShownOnce, useActions } from './shared.js';

const EMPTY = { name: '', description: '', role: 'viewer' as Me['role'], areaId: '', expiresInDays: 365 };

export function ServiceAccounts({ api, areas, onUnauthorized }: { api: Api; areas: Area[]; onUnauthorized: () => void }) {
  const { t, locale } = useT();
  const [accounts, setAccounts] = useState<ServiceAccount[]>([]);
  const [form, setForm] = useState(EMPTY);
  const [shown, setShown] = useState<ServiceAccountKey | null>(null);
  const load = () => void api.serviceAccounts().then(setAccounts, fail);
  const { message, setMessage, fail, run } = useActions(onUnauthorized, load);
  useEffect(load, [api]);
  const areaName = (id: string) => areas.find((a) => a.id === id)?.name ?? id;
  const when = (at: string | null) => (at ? new Date(at).toLocaleString(locale) : t.neverUsed);
  const create = (e: Event) => {
    e.preventDefault();
    const areaId = form.areaId || areas[0]?.id || '';
    void run(async () => {
      setShown(await api.createServiceAccount({ ...form, name: form.name.trim(), description: form.description.trim(), areaId }));
      setForm({ ...EMPTY, areaId });
    });
  };
  const rotate = (a: ServiceAccount) => confirm(t.confirmRotateKey(a.name)) && void run(async () => setShown(await api.rotateServiceAccount(a.id)));
  const revoke = (a: ServiceAccount) =>
    confirm(t.confirmRevokeKey(a.name)) &&
    void run(async () => {
      await api.revokeServiceAccount(a.id);
      setMessage({ error: false, text: t.keyRevoked(a.name) });
    });

  return (
    <section class="card stack" data-testid="service-accounts">
      <h2>{t.serviceAccounts}</h2>
      <p>{t.serviceAccountsHelp}</p>
      {shown && (
        <ShownOnce
          testId="new-key"
          title={t.newKeyFor(shown.account.name)}
          value={shown.key}
          warning={t.keyShownOnce}
          copyLabel={t.copyKey}
          doneLabel={t.doneWithKey}
          onCopied={() => setMessage({ error: false, text: t.keyCopied })}
          onDone={() => setShown(null)}
        />
      )}
      <div class="scroll" tabIndex={0} role="region" aria-label={t.serviceAccounts}>
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">{t.saName}</th><th scope="col">{t.role}</th><th scope="col">{t.area}</th><th scope="col">{t.keyPrefix}</th>
              <th scope="col">{t.expires}</th><th scope="col">{t.lastUsed}</th><th scope="col">{t.status}</th><th />
            </tr>
          </thead>
          <tbody>
            {accounts.map((a) => (
              <tr key={a.id}>
                <th scope="row" data-label={t.saName}>{a.name}{a.description && <div class="muted">{a.description}</div>}</th>
                <td data-label={t.role}>{t.roles[a.role]}</td>
                <td data-label={t.area}>{areaName(a.areaId)}</td>
                <td data-label={t.keyPrefix}><code>loa_sa_{a.prefix}_…</code></td>
                <td data-label={t.expires}>{new Date(a.expiresAt).toLocaleDateString(locale)}</td>
                <td data-label={t.lastUsed}>{when(a.lastUsedAt)}{a.lastUsedFrom && ` (${a.lastUsedFrom})`}</td>
                <td data-label={t.status}>{t.saStates[a.state]}</td>
                <td class="row">
                  {a.state !== 'revoked' && <button type="button" aria-label={`${t.rotateKey}: ${a.name}`} onClick={() => rotate(a)}>{t.rotateKey}</button>}
                  {a.state !== 'revoked' && <button type="button" class="danger" aria-label={`${t.revokeKey}: ${a.name}`} onClick={() => revoke(a)}>{t.revokeKey}</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form class="row filters" onSubmit={create}>
        <h3>{t.addServiceAccount}</h3>
        <label>
          {t.saName}
          <input name="sa-name" required minLength={2} maxLength={64} pattern="[A-Za-z0-9._\-]+" value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </label>
        <label>
          {t.saDescription}
          <input name="sa-description" maxLength={500} value={form.description} onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} />
        </label>
        <label>
          {t.role}
          <select name="sa-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as Me['role'] })}>
            {ROLE_CHOICES.map((r) => (
              <option key={r} value={r}>{t.roles[r]}</option>
            ))}
          </select>
        </label>
        <AreaSelect areas={areas} value={form.areaId || areas[0]?.id || ''} onChange={(areaId) => setForm({ ...form, areaId })} all={false} />
        <label>
          {t.expiresInDays}
          <input name="sa-days" type="number" required min={1} max={730} value={form.expiresInDays} onInput={(e) => setForm({ ...form, expiresInDays: Number(e.currentTarget.value) })} />
        </label>
        <button type="submit">{t.addServiceAccount}</button>
      </form>
      <NoticeLine notice={message} />
    </section>
  );
}
