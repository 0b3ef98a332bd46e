/** What several pages share: the area and device lists they start from, and the area picker. */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Area, Device } from '../api.js';
import { useT } from '../i18n.js';
import { onLoadError } from './errors.js';

/** Areas and devices in the caller's scope; `devices` is null until loaded. */
export function useAreasAndDevices(api: Api, onUnauthorized: () => void): { areas: Area[]; devices: Device[] | null; error: string | null } {
  const { lang } = useT();
  const [areas, setAreas] = useState<Area[]>([]);
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([api.areas(), api.devices()]).then(
      ([a, d]) => {
        setAreas(a);
        setDevices(d);
      },
      onLoadError(lang, onUnauthorized, setError),
    );
  }, [api]);
  return { areas, devices, error };
}

/** A select of the areas, with "all areas" (value '') first unless `all` is false. */
export function AreaSelect({ areas, value, onChange, all = true }: { areas: Area[]; value: string; onChange: (areaId: string) => void; all?: boolean }) {
  const { t } = useT();
  return (
    <label>
      {t.area}
      <select name="area" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {all && <option value="">{t.allAreas}</option>}
        {areas.map((a) => (
          <option key={a.id} value={a.id}>{a.name}</option>
        ))}
      </select>
    </label>
  );
}
