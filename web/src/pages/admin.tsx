/** Administration: users and roles in the admin's area (add, change role, reset password, disable), the area tree with quiet hours, service accounts' API keys (issue 21), and the audit log. */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, AuditEntry, Device, Me, User } from '../api.js';
import { useT } from '../i18n.js';
import { onLoadError } from './errors.js';
import { AreaSelect, may, type Notice, NoticeLine, ROLE_CHOICES, treeOrder } from './shared.js';
import { ServiceAccounts } from './service-accounts.js';
import { Webhooks } from './webhooks.js';
import { Upstream } from './upstream.js';

export function AdminPage({ api, me, onUnauthorized }: { api: Api; me: Me | null; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const [users, setUsers] = useState<User[]>([]);
  const [areas, setAreas] = useState<Area[]>([]);
  const [devices, setDevices] = useState<Device[]>([]);
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [action, setAction] = useState('');
  const [form, setForm] = useState({ username: '', password: '', role: 'operator' as Me['role'], areaId: '' });
  const [message, setMessage] = useState<Notice>(null);
  const fail = onLoadError(lang, onUnauthorized, (text) => setMessage({ error: true, text }));
  const load = () => {
    Promise.all([api.users(), api.areas(), api.devices(), api.audit(action)]).then(([u, a, d, log]) => {
      setUsers(u);
      setAreas(a);
      setDevices(d);
      setAudit(log);
      setForm((f) => (f.areaId ? f : { ...f, areaId: a[0]?.id ?? '' }));
    }, fail);
  };
  useEffect(load, [api]);

  const add = async (e: Event) => {
    e.preventDefault();
    try {
      await api.createUser(form);
      setForm({ ...form, username: '', password: '' });
      setMessage({ error: false, text: t.saved });
      load();
    } catch (err) {
      fail(err);
    }
  };
  const change = async (u: User, what: { disabled?: boolean; role?: Me['role']; password?: string }) => {
    try {
      await api.updateUser(u.id, what);
      setMessage({ error: false, text: what.password ? t.passwordReset(u.username) : t.saved });
      setResetting(null);
      load();
    } catch (err) {
      fail(err);
    }
  };
  const [resetting, setResetting] = useState<{ id: string; password: string } | null>(null);
  const areaName = (id: string) => areas.find((a) => a.id === id)?.name ?? id;
  /** What an audit entry was about, by name when the page knows it: a user, a speaker or an area (issue 14). */
  const targetName = (id: string) => users.find((u) => u.id === id)?.username ?? devices.find((d) => d.id === id)?.name ?? areaName(id);

  return (
    <div class="stack">
      <section class="card stack">
        <h1>{t.users}</h1>
        <div class="scroll" tabIndex={0} role="region" aria-label={t.users}>
          <table data-testid="users">
            <thead>
              <tr><th scope="col">{t.username}</th><th scope="col">{t.role}</th><th scope="col">{t.area}</th><th scope="col">{t.status}</th><th /></tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.username}</th>
                  <td>
                    {u.id === me?.id ? (
                      t.roles[u.role]
                    ) : (
                      <select aria-label={`${t.role}: ${u.username}`} value={u.role} onChange={(e) => void change(u, { role: e.currentTarget.value as Me['role'] })}>
                        {ROLE_CHOICES.map((r) => (
                          <option key={r} value={r}>{t.roles[r]}</option>
                        ))}
                      </select>
                    )}
                  </td>
                  <td>{areaName(u.areaId)}</td>
                  <td>{u.disabled ? t.disabled : t.active}</td>
                  <td class="row">
                    {u.id !== me?.id && <button type="button" onClick={() => void change(u, { disabled: !u.disabled })}>{u.disabled ? t.enable : t.disable}</button>}
                    {resetting?.id === u.id ? (
                      <form class="row" onSubmit={(e) => (e.preventDefault(), void change(u, { password: resetting.password }))}>
                        <input type="password" autoComplete="new-password" required minLength={10} aria-label={`${t.newPassword}: ${u.username}`} value={resetting.password} onInput={(e) => setResetting({ id: u.id, password: e.currentTarget.value })} />
                        <button type="submit">{t.save}</button>
                      </form>
                    ) : (
                      <button type="button" class="link" onClick={() => setResetting({ id: u.id, password: '' })}>{t.resetPassword}</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form class="row filters" onSubmit={(e) => void add(e)}>
          <h2>{t.addUser}</h2>
          <label>
            {t.username}
            <input name="new-username" required minLength={2} value={form.username} onInput={(e) => setForm({ ...form, username: e.currentTarget.value })} />
          </label>
          <label>
            {t.password}
            <input name="new-password" type="password" autoComplete="new-password" required minLength={10} value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
          </label>
          <label>
            {t.role}
            <select name="role" value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as Me['role'] })}>
              {ROLE_CHOICES.map((r) => (
                <option key={r} value={r}>{t.roles[r]}</option>
              ))}
            </select>
          </label>
          <AreaSelect areas={areas} value={form.areaId} onChange={(areaId) => setForm({ ...form, areaId })} all={false} />
          <button type="submit">{t.addUser}</button>
        </form>
        <NoticeLine notice={message} />
        <details>
          <summary>{t.whatRolesDo}</summary>
          <dl>
            {ROLE_CHOICES.map((r) => (
              <div key={r}>
                <dt>{t.roles[r]}</dt>
                <dd>{t.roleHelp[r]}</dd>
              </div>
            ))}
          </dl>
        </details>
      </section>
      <Areas api={api} areas={areas} onChange={load} />
      {may(me, 'service-accounts:read') && <ServiceAccounts api={api} areas={areas} onUnauthorized={onUnauthorized} />}
      {may(me, 'webhooks:read') && <Webhooks api={api} areas={areas} onUnauthorized={onUnauthorized} />}
      {may(me, 'integration:read') && <Upstream api={api} canWrite={may(me, 'integration:write')} onUnauthorized={onUnauthorized} />}
      <section class="card stack">
        <h2>{t.auditLog}</h2>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            load();
          }}
        >
          <label class="grow">
            {t.filterAction}
            <input name="action" value={action} onInput={(e) => setAction(e.currentTarget.value)} />
          </label>
          <button type="submit">{t.show}</button>
        </form>
        <div class="scroll" tabIndex={0} role="region" aria-label={t.auditLog}>
          <table data-testid="audit">
            <thead>
              <tr><th scope="col">{t.at}</th><th scope="col">{t.who}</th><th scope="col">{t.action}</th><th scope="col">{t.status}</th><th scope="col">{t.source}</th></tr>
            </thead>
            <tbody>
              {audit.map((e) => (
                <tr key={e.id}>
                  <td>{new Date(e.at).toLocaleString(locale)}</td>
                  <td>{e.username ?? ''}</td>
                  <td>
                    <code>{e.action}</code>
                    {e.target && <span title={e.target}> {targetName(e.target)}</span>}
                  </td>
                  <td>{e.status ?? ''}</td>
                  <td>{e.source ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

/** The area tree: add an area under another, and set quiet hours (only emergencies play then). */
function Areas({ api, areas, onChange }: { api: Api; areas: Area[]; onChange: () => void }) {
  const { t, lang } = useT();
  const [name, setName] = useState('');
  const [parentId, setParentId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const run = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      onChange();
    } catch (err) {
      onLoadError(lang, () => undefined, setError)(err);
    }
  };
  const parent = parentId || areas[0]?.id || '';
  return (
    <section class="card stack">
      <h2>{t.areaTree}</h2>
      <table data-testid="areas">
        <thead>
          <tr><th scope="col">{t.area}</th><th scope="col">{t.quietHours}</th></tr>
        </thead>
        <tbody>
          {treeOrder(areas).map(({ area, depth }) => (
            <tr key={area.id}>
              <th scope="row" style={{ paddingLeft: `${depth + 0.5}rem` }}>{area.name}</th>
              <td>
                <QuietHours area={area} onSave={(quietHours) => void run(() => api.updateArea(area.id, { quietHours }))} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="row filters" onSubmit={(e) => (e.preventDefault(), void run(() => api.createArea({ name: name.trim(), parentId: parent }).then(() => setName(''))))}>
        <label>
          {t.newAreaName}
          <input name="area-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <AreaSelect areas={areas} value={parent} onChange={setParentId} all={false} label={t.parentArea} />
        <button type="submit">{t.addArea}</button>
      </form>
      {error && <p role="alert" class="error">{error}</p>}
    </section>
  );
}

function QuietHours({ area, onSave }: { area: Area; onSave: (q: Area['quietHours']) => void }) {
  const { t } = useT();
  const [from, setFrom] = useState(area.quietHours?.from ?? '');
  const [to, setTo] = useState(area.quietHours?.to ?? '');
  return (
    <form class="row middle" onSubmit={(e) => (e.preventDefault(), onSave(from && to ? { from, to } : null))}>
      <input type="time" aria-label={`${t.quietFrom}: ${area.name}`} value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
      <span aria-hidden="true">–</span>
      <input type="time" aria-label={`${t.quietTo}: ${area.name}`} value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      <button type="submit" class="link">{t.save}</button>
    </form>
  );
}
