/** Administration: users and roles in the admin's area, and the audit log. */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, AuditEntry, Me, User } from '../api.js';
import { useT } from '../i18n.js';
import { onLoadError } from './errors.js';

const ROLES: Me['role'][] = ['admin', 'alert-staff', 'operator', 'technician', 'viewer'];

export function AdminPage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const [users, setUsers] = useState<User[]>([]);
  const [areas, setAreas] = useState<Area[]>([]);
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [action, setAction] = useState('');
  const [form, setForm] = useState({ username: '', password: '', role: 'operator' as Me['role'], areaId: '' });
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const fail = onLoadError(lang, onUnauthorized, (text) => setMessage({ error: true, text }));
  const load = () => {
    Promise.all([api.users(), api.areas(), api.audit(action)]).then(([u, a, log]) => {
      setUsers(u);
      setAreas(a);
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
  const toggle = async (u: User) => {
    try {
      await api.updateUser(u.id, { disabled: !u.disabled });
      load();
    } catch (err) {
      fail(err);
    }
  };
  const areaName = (id: string) => areas.find((a) => a.id === id)?.name ?? id;

  return (
    <div class="stack">
      <section class="card stack">
        <h1>{t.users}</h1>
        <div class="scroll">
          <table data-testid="users">
            <thead>
              <tr><th scope="col">{t.username}</th><th scope="col">{t.role}</th><th scope="col">{t.area}</th><th scope="col">{t.status}</th><th /></tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.username}</th>
                  <td>{t.roles[u.role] ?? u.role}</td>
                  <td>{areaName(u.areaId)}</td>
                  <td>{u.disabled ? t.disabled : ''}</td>
                  <td><button type="button" onClick={() => void toggle(u)}>{u.disabled ? t.enable : t.disable}</button></td>
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
              {ROLES.map((r) => (
                <option key={r} value={r}>{t.roles[r]}</option>
              ))}
            </select>
          </label>
          <label>
            {t.area}
            <select name="user-area" value={form.areaId} onChange={(e) => setForm({ ...form, areaId: e.currentTarget.value })}>
              {areas.map((a) => (
                <option key={a.id} value={a.id}>{a.name}</option>
              ))}
            </select>
          </label>
          <button type="submit">{t.addUser}</button>
        </form>
        {message && <p role={message.error ? 'alert' : 'status'} class={message.error ? 'error' : ''}>{message.text}</p>}
      </section>
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
        <div class="scroll">
          <table data-testid="audit">
            <thead>
              <tr><th scope="col">{t.at}</th><th scope="col">{t.who}</th><th scope="col">{t.action}</th><th scope="col">{t.status}</th><th scope="col">{t.source}</th></tr>
            </thead>
            <tbody>
              {audit.map((e) => (
                <tr key={e.id}>
                  <td>{new Date(e.at).toLocaleString(locale)}</td>
                  <td>{e.username ?? ''}</td>
                  <td><code>{e.action}</code>{e.target ? ` ${e.target}` : ''}</td>
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
