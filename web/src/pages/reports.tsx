/** Reports: what played where, filtered by area and dates, a per-day chart and the CSV. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, DailyRow, Device, PlayReport, ReportFilter } from '../api.js';
import { useT } from '../i18n.js';
import { onLoadError } from './errors.js';
import { AreaSelect } from './shared.js';
import { localDate as day } from '../dates.js';


export function ReportsPage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const { t, lang, locale } = useT();
  const [areas, setAreas] = useState<Area[]>([]);
  const [devices, setDevices] = useState<Device[]>([]);
  const [titles, setTitles] = useState(new Map<string, string>());
  const [from, setFrom] = useState(day(new Date(Date.now() - 6 * 86400_000)));
  const [to, setTo] = useState(day(new Date()));
  const [areaId, setAreaId] = useState('');
  const [rows, setRows] = useState<PlayReport[] | null>(null);
  const [daily, setDaily] = useState<DailyRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const fail = onLoadError(lang, onUnauthorized, setError);
  const filter = (): ReportFilter => ({ from: new Date(`${from}T00:00:00`).toISOString(), to: new Date(`${to}T23:59:59.999`).toISOString(), ...(areaId ? { areaId } : {}) });

  const load = () => {
    setError(null);
    const f = filter();
    Promise.all([api.reports(f), api.daily(f)]).then(([r, d]) => {
      setRows(r);
      setDaily(d);
    }, fail);
  };
  useEffect(() => {
    Promise.all([api.areas(), api.devices(), api.content()]).then(([a, d, c]) => {
      setAreas(a);
      setDevices(d);
      setTitles(new Map(c.map((i) => [i.id, i.title])));
    }, fail);
    load();
  }, [api]);

  const download = async () => {
    try {
      const blob = await api.reportsCsv(filter());
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `loalang-bao-cao-${from}-${to}.csv`;
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (err) {
      fail(err);
    }
  };

  const names = useMemo(() => new Map(devices.map((d) => [d.id, d.name])), [devices]);
  const perDay = useMemo(() => {
    const m = new Map<string, number>();
    for (const r of daily) m.set(r.date, (m.get(r.date) ?? 0) + r.plays);
    return [...m].sort(([a], [b]) => a.localeCompare(b));
  }, [daily]);

  return (
    <div class="stack">
      <form
        class="card row filters"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <h1>{t.reportsTitle}</h1>
        <AreaSelect areas={areas} value={areaId} onChange={setAreaId} />
        <label>
          {t.from}
          <input type="date" name="from" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          {t.to}
          <input type="date" name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <div class="row end">
          <button type="submit">{t.show}</button>
          <button type="button" onClick={() => void download()}>{t.downloadCsv}</button>
        </div>
      </form>
      <MonthlyExport api={api} areas={areas} onError={fail} />
      {error && <p role="alert" class="error">{error}</p>}
      {perDay.length > 0 && (
        <section class="card">
          <h2>{t.perDay}</h2>
          <DayChart data={perDay} />
        </section>
      )}
      <section class="card">
        {rows === null ? (
          <p aria-busy="true">…</p>
        ) : rows.length === 0 ? (
          <p>{t.noReports}</p>
        ) : (
          <div class="scroll" tabIndex={0} role="region" aria-label={t.reportsTitle}>
            <table data-testid="reports">
              <thead>
                <tr><th scope="col">{t.scheduledAt}</th><th scope="col">{t.device}</th><th scope="col">{t.content}</th><th scope="col">{t.outcome}</th><th scope="col">{t.played}</th></tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.reportId} data-status={r.status}>
                    <td>{new Date(r.startedAt ?? r.scheduledAt).toLocaleString(locale)}</td>
                    <th scope="row">{names.get(r.deviceId) ?? r.deviceId}</th>
                    <td>{titles.get(r.contentId) ?? r.contentId}</td>
                    <td class={r.status === 'completed' ? 'state-finished' : 'state-failed'} title={r.reason}>{t.outcomes[r.status] ?? r.status}</td>
                    <td>{Math.round(r.playedMs / 1000)} s</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

/** The monthly broadcast report of an area (issue 21): the printable PDF form, or its items as CSV. */
function MonthlyExport({ api, areas, onError }: { api: Api; areas: Area[]; onError: (err: unknown) => void }) {
  const { t } = useT();
  const [month, setMonth] = useState(day(new Date()).slice(0, 7));
  const [areaId, setAreaId] = useState('');
  const save = async (format: 'pdf' | 'csv') => {
    try {
      const blob = await api.monthlyReport(month, areaId, format);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `bao-cao-thang-${month}${areaId ? `-${areaId}` : ''}.${format}`;
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (err) {
      onError(err);
    }
  };
  return (
    <form class="card row filters" data-testid="monthly-export" onSubmit={(e) => e.preventDefault()}>
      <h2>{t.monthlyTitle}</h2>
      <AreaSelect areas={areas} value={areaId} onChange={setAreaId} />
      <label>
        {t.month}
        <input type="month" name="month" required value={month} onInput={(e) => setMonth(e.currentTarget.value)} />
      </label>
      <div class="row end">
        <button type="button" disabled={!/^\d{4}-\d{2}$/.test(month)} onClick={() => void save('pdf')}>{t.downloadMonthPdf}</button>
        <button type="button" disabled={!/^\d{4}-\d{2}$/.test(month)} onClick={() => void save('csv')}>{t.downloadMonthCsv}</button>
      </div>
    </form>
  );
}

/** Plays per day as bars: an SVG, no chart library, readable without colour. */
function DayChart({ data }: { data: [string, number][] }) {
  const max = Math.max(1, ...data.map(([, n]) => n));
  const w = 48;
  const h = 120;
  return (
    <svg role="img" aria-label={data.map(([d, n]) => `${d}: ${n}`).join(', ')} viewBox={`0 0 ${Math.max(7, data.length) * w} ${h + 36}`} class="chart">
      {data.map(([date, n], i) => {
        const bh = Math.round((n / max) * h);
        return (
          <g key={date} transform={`translate(${i * w},0)`}>
            <rect x={8} y={h - bh + 14} width={w - 16} height={bh} fill="#0b5cad" />
            <text x={w / 2} y={h - bh + 10} text-anchor="middle" font-size="12">{n}</text>
            <text x={w / 2} y={h + 30} text-anchor="middle" font-size="11">{date.slice(5)}</text>
          </g>
        );
      })}
    </svg>
  );
}
