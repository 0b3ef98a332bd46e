/**
 * Speakers on a map by their GPS position (Web Mercator). It works offline: without a tile
 * server configured the points sit on a plain grid; with `LOALANG_MAP_TILE_URL` the tiles
 * under them are loaded from it.
 */
import type { Device } from '../api.js';
import { useT } from '../i18n.js';

const W = 640;
const H = 360;
const TILE = 256;
const MAX_ZOOM = 16;

/** World pixel coordinates at zoom 0 (0…256). */
function project(lat: number, lon: number): [number, number] {
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * TILE, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * TILE];
}

export function DeviceMap({ devices, tileUrl, attribution }: { devices: Device[]; tileUrl: string | null; attribution: string | null }) {
  const { t } = useT();
  const placed = devices.flatMap((d) => (d.position ? [{ d, p: project(d.position.lat, d.position.lon) }] : []));
  if (placed.length === 0) return <p>{t.noPositions}</p>;
  const xs = placed.map(({ p }) => p[0]);
  const ys = placed.map(({ p }) => p[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // The largest zoom at which every speaker fits, with a margin.
  const fit = Math.min((W * 0.8) / Math.max(maxX - minX, 1e-9), (H * 0.8) / Math.max(maxY - minY, 1e-9));
  const zoom = Math.max(0, Math.min(MAX_ZOOM, Math.floor(Math.log2(fit))));
  const scale = 2 ** zoom;
  const [cx, cy] = [((minX + maxX) / 2) * scale, ((minY + maxY) / 2) * scale];
  const [left, top] = [cx - W / 2, cy - H / 2];
  const tiles: { x: number; y: number; href: string }[] = [];
  if (tileUrl) {
    const n = 2 ** zoom;
    for (let tx = Math.floor(left / TILE); tx <= Math.floor((left + W) / TILE); tx++) {
      for (let ty = Math.floor(top / TILE); ty <= Math.floor((top + H) / TILE); ty++) {
        if (ty < 0 || ty >= n) continue;
        const x = ((tx % n) + n) % n;
        tiles.push({ x: tx * TILE - left, y: ty * TILE - top, href: tileUrl.replace('{z}', String(zoom)).replace('{x}', String(x)).replace('{y}', String(ty)) });
      }
    }
  }
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${W} ${H}`} role="group" aria-label={t.mapLabel(placed.length)} data-testid="device-map" data-zoom={zoom}>
        <rect width={W} height={H} class="map-bg" />
        {tiles.map((tile) => (
          <image key={tile.href} href={tile.href} x={tile.x} y={tile.y} width={TILE} height={TILE} />
        ))}
        {placed.map(({ d, p }) => {
          const [x, y] = [p[0] * scale - left, p[1] * scale - top];
          return (
            <a key={d.id} href={`#/devices/${d.id}`} data-testid="map-marker">
              <title>{`${d.name} · ${d.online ? t.online : t.offline}`}</title>
              <circle cx={x} cy={y} r={7} class={d.online ? 'marker on' : 'marker off'} />
              <text x={x + 10} y={y + 4}>{d.name}</text>
            </a>
          );
        })}
      </svg>
      {tileUrl && attribution && <figcaption class="attribution">{attribution}</figcaption>}
    </figure>
  );
}
