/** The console shell: login, then the pages behind a header with the language switch. Hash routes. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, type Me } from './api.js';
import { dictionaries, LangContext, LOCALES, savedLang, saveLang, type Lang } from './i18n.js';
import { LoginPage } from './pages/login.js';
import { DashboardPage } from './pages/dashboard.js';
import { AlertsPage } from './pages/alerts.js';
import { LivePage } from './pages/live.js';
import { ReportsPage } from './pages/reports.js';
import { DevicesPage } from './pages/devices.js';
import { AdminPage } from './pages/admin.js';
import { SchedulesPage } from './pages/schedules.js';
import { ContentPage } from './pages/content.js';
import { UpdatesPage } from './pages/updates.js';
import { may } from './pages/shared.js';
import { Live, LiveContext } from './live.js';

const TOKEN_KEY = 'loalang.token';

function useHashRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => setRoute(location.hash.slice(1) || '/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const [lang, setLang] = useState<Lang>(savedLang());
  // The token lives for this tab only: a shared commune computer forgets it when closed.
  const [token, setToken] = useState<string | null>(sessionStorage.getItem(TOKEN_KEY));
  const api = useMemo(() => new Api(token), [token]);
  const route = useHashRoute();
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    setMe(null);
    if (token) api.me().then(setMe, () => undefined);
  }, [api]);
  const can = (roles: Me['role'][]) => me !== null && roles.includes(me.role);
  // The live stream, while signed in; pages subscribe to it.
  const [live, setLive] = useState<Live | null>(null);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (!token) return;
    const hub = new Live();
    setLive(hub);
    // A 401 on the stream means the session is over (password reset, account disabled): log out.
    const stop = api.events((e, d) => hub.dispatch(e, d), setConnected, () => void logout());
    return () => {
      stop();
      setLive(null);
      setConnected(false);
    };
  }, [api]);
  const t = dictionaries[lang];

  const onLogin = (tok: string) => {
    sessionStorage.setItem(TOKEN_KEY, tok);
    setToken(tok);
  };
  const logout = async () => {
    await api.logout();
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };
  // <html lang> changes here, with the text, not in an effect a frame later (issue 14).
  const switchLang = () => {
    const next = lang === 'vi' ? 'en' : 'vi';
    saveLang(next);
    setLang(next);
  };

  return (
    <LangContext.Provider value={{ lang, t, locale: LOCALES[lang] }}>
      <LiveContext.Provider value={live}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>{t.skipToContent}</a>
      <header class="top">
        <a class="brand" href="#/">
          <strong>{t.appName}</strong> <span>{t.tagline}</span>
        </a>
        {token && (
          <nav aria-label="main">
            <a href="#/" aria-current={route === '/' ? 'page' : undefined}>{t.navDashboard}</a>
            <a href="#/schedules" aria-current={route.startsWith('/schedules') ? 'page' : undefined}>{t.navSchedules}</a>
            <a href="#/content" aria-current={route.startsWith('/content') ? 'page' : undefined}>{t.navContent}</a>
            <a href="#/alerts" aria-current={route.startsWith('/alerts') ? 'page' : undefined}>{t.navAlerts}</a>
            <a href="#/live" aria-current={route.startsWith('/live') ? 'page' : undefined}>{t.navLive}</a>
            <a href="#/devices" aria-current={route.startsWith('/devices') ? 'page' : undefined}>{t.navDevices}</a>
            {may(me, 'updates:read') && <a href="#/updates" aria-current={route.startsWith('/updates') ? 'page' : undefined}>{t.navUpdates}</a>}
            <a href="#/reports" aria-current={route.startsWith('/reports') ? 'page' : undefined}>{t.navReports}</a>
            {can(['admin']) && <a href="#/admin" aria-current={route.startsWith('/admin') ? 'page' : undefined}>{t.navAdmin}</a>}
          </nav>
        )}
        <div class="tools">
          {token && (
            <span class={`live ${connected ? 'on' : 'off'}`} data-testid="live-status" role="status">
              {connected ? t.liveOn : t.liveOff}
            </span>
          )}
          <button type="button" class="link" onClick={switchLang} lang={lang === 'vi' ? 'en' : 'vi'} data-testid="lang-switch">{t.language}</button>
          {token && <button type="button" class="link" onClick={() => void logout()}>{t.logout}</button>}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {!token ? (
          <LoginPage api={api} onLogin={onLogin} />
        ) : route.startsWith('/schedules') ? (
          <SchedulesPage api={api} me={me} route={route} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/content') ? (
          <ContentPage api={api} me={me} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/admin') ? (
          <AdminPage api={api} me={me} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/devices') ? (
          <DevicesPage api={api} me={me} route={route} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/updates') ? (
          <UpdatesPage api={api} me={me} route={route} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/reports') ? (
          <ReportsPage api={api} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/live') ? (
          <LivePage api={api} me={me} route={route} onUnauthorized={() => void logout()} />
        ) : route.startsWith('/alerts') ? (
          <AlertsPage api={api} me={me} route={route} onUnauthorized={() => void logout()} />
        ) : (
          <DashboardPage api={api} me={me} onUnauthorized={() => void logout()} />
        )}
      </main>
      </LiveContext.Provider>
    </LangContext.Provider>
  );
}
