/** What several pages share: the area and device lists they start from (kept live), the area picker and tree. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api, Area, Device, Me } from '../api.js';
import { useT } from '../i18n.js';
import { mergeDevices, useLive } from '../live.js';
import { onLoadError } from './errors.js';

/** Areas and devices in the caller's scope, devices updated by the live stream; `devices` is null until loaded. */
export function useAreasAndDevices(api: Api, onUnauthorized: () => void): { areas: Area[]; devices: Device[] | null; error: string | null; reloadAreas: () => void; reloadDevices: () => void } {
  const { lang } = useT();
  const [areas, setAreas] = useState<Area[]>([]);
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reloadAreas = () => void api.areas().then(setAreas, onLoadError(lang, onUnauthorized, setError));
  const reloadDevices = () => void api.devices().then(setDevices, onLoadError(lang, onUnauthorized, setError));
  useEffect(() => {
    Promise.all([api.areas(), api.devices()]).then(
      ([a, d]) => {
        setAreas(a);
        setDevices(d);
      },
      onLoadError(lang, onUnauthorized, setError),
    );
  }, [api]);
  useLive((event, data) => {
    if (event === 'devices') setDevices((list) => list && mergeDevices(list, data as Device[]));
  });
  return { areas, devices, error, reloadAreas, reloadDevices };
}

/** The roles, in the order the console offers them (the server's list: broker/src/accounts/roles.ts). */
export const ROLE_CHOICES: Me['role'][] = ['admin', 'alert-staff', 'operator', 'source-system', 'technician', 'viewer'];

/** Whether the signed-in user's role may do `permission` (the server checks again). */
export const may = (me: Me | null, permission: Me['permissions'][number]) => me?.permissions.includes(permission) ?? false;

/** Areas in tree order (parents before children) with their depth, for pickers and the tree. */
export function treeOrder(areas: Area[]): { area: Area; depth: number }[] {
  const ids = new Set(areas.map((a) => a.id));
  const children = new Map<string | null, Area[]>();
  for (const a of areas) {
    const parent = a.parentId && ids.has(a.parentId) ? a.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), a]);
  }
  const out: { area: Area; depth: number }[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const a of (children.get(parent) ?? []).sort((x, y) => x.name.localeCompare(y.name, 'vi'))) {
      out.push({ area: a, depth });
      walk(a.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** The ids of the given areas and every area below them. */
export function subtree(areas: Area[], roots: string[]): Set<string> {
  const out = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const a of areas) {
      if (a.parentId && out.has(a.parentId) && !out.has(a.id)) {
        out.add(a.id);
        grew = true;
      }
    }
  }
  return out;
}

/** A select of the areas in tree order, with "all areas" (value '') first unless `all` is false. */
export function AreaSelect({ areas, value, onChange, all = true, label }: { areas: Area[]; value: string; onChange: (areaId: string) => void; all?: boolean; label?: string }) {
  const { t } = useT();
  return (
    <label>
      {label ?? t.area}
      <select name="area" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {all && <option value="">{t.allAreas}</option>}
        {treeOrder(areas).map(({ area, depth }) => (
          <option key={area.id} value={area.id}>{'\u00a0\u00a0'.repeat(depth) + area.name}</option>
        ))}
      </select>
    </label>
  );
}

/** Plays an audio URL (a blob URL fetched with the token). */
export function Preview({ url, testId = 'preview' }: { url: string | null; testId?: string }) {
  const { t } = useT();
  if (!url) return null;
  return (
    <label class="inline">
      {t.preview}
      <audio controls src={url} data-testid={testId} />
    </label>
  );
}

/** Offers a JSON document as a file download (an agent config: shown once, never stored by the console). */
export function downloadJson(name: string, value: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Target areas ticked on the tree, each with how many speakers it holds (itself and below). */
export function AreaPicker({ areas, devices, chosen, onChange, legend }: { areas: Area[]; devices: Device[]; chosen: string[]; onChange: (areaIds: string[]) => void; legend?: string }) {
  const { t } = useT();
  const tree = useMemo(() => treeOrder(areas), [areas]);
  /** Devices below each area, counted once per area list, not on every keystroke. */
  const counts = useMemo(() => {
    const byArea = new Map<string, number>();
    for (const a of areas) {
      const below = subtree(areas, [a.id]);
      byArea.set(a.id, devices.filter((d) => below.has(d.areaId)).length);
    }
    return byArea;
  }, [areas, devices]);
  return (
    <fieldset>
      <legend>{legend ?? t.alertTargets}</legend>
      {tree.map(({ area, depth }) => (
        <label key={area.id} class="check" style={{ paddingLeft: `${depth * 1.25}rem` }}>
          <input
            type="checkbox"
            name="area"
            value={area.id}
            checked={chosen.includes(area.id)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...chosen, area.id] : chosen.filter((x) => x !== area.id))}
          />
          {area.name} <small>({counts.get(area.id) ?? 0})</small>
        </label>
      ))}
    </fieldset>
  );
}

/** An outcome to show the user: an error (read out at once) or a confirmation. */
export type Notice = { error: boolean; text: string } | null;

export function NoticeLine({ notice, card = false }: { notice: Notice; card?: boolean }) {
  if (!notice) return null;
  return (
    <p role={notice.error ? 'alert' : 'status'} class={[notice.error ? 'error' : '', card ? 'card' : ''].filter(Boolean).join(' ')}>
      {notice.text}
    </p>
  );
}

/**
 * An admin section's actions: each runs, then the section loads again; a failure is shown in the
 * user's language (a lapsed session logs out). `message` is the section's notice line.
 */
export function useActions(onUnauthorized: () => void, reload: () => void) {
  const { lang } = useT();
  const [message, setMessage] = useState<Notice>(null);
  const fail = onLoadError(lang, onUnauthorized, (text) => setMessage({ error: true, text }));
  const run = async (what: () => Promise<void>) => {
    setMessage(null);
    try {
      await what();
      reload();
    } catch (err) {
      fail(err);
    }
  };
  return { message, setMessage, fail, run };
}

/** A secret the server shows once (an API key, a webhook's signing secret): select, copy, done. */
export function ShownOnce({ title, value, warning, copyLabel, doneLabel, onCopied, onDone, testId }: { title: string; value: string; warning: string; copyLabel: string; doneLabel: string; onCopied: () => void; onDone: () => void; testId: string }) {
  const copy = () => void navigator.clipboard.writeText(value).then(onCopied, () => undefined);
  return (
    <div class="card stack" role="alert" data-testid={testId}>
      <h3>{title}</h3>
      <p><strong>{warning}</strong></p>
      <input readOnly aria-label={title} value={value} onFocus={(e) => e.currentTarget.select()} />
      <div class="row">
        <button type="button" onClick={copy}>{copyLabel}</button>
        <button type="button" class="link" onClick={onDone}>{doneLabel}</button>
      </div>
    </div>
  );
}
