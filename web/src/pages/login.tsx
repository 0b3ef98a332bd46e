import { useState } from 'preact/hooks';
import type { Api } from '../api.js';
import { useT } from '../i18n.js';
import { messageOf } from './errors.js';

export function LoginPage({ api, onLogin }: { api: Api; onLogin: (token: string) => void }) {
  const { t, lang } = useT();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await api.login(username, password));
    } catch (err) {
      setError(messageOf(err, lang));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card login" onSubmit={(e) => void submit(e)}>
      <h1>{t.login}</h1>
      <label>
        {t.username}
        <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        {t.password}
        <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      {error && <p role="alert" class="error">{error}</p>}
      <button type="submit" disabled={busy}>{busy ? t.loggingIn : t.login}</button>
    </form>
  );
}
