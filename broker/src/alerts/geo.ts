/**
 * CAP 1.2 area shapes against device positions (WGS 84). A polygon is "lat,lon lat,lon …"
 * with the first and last pair equal (§3.3.2 of the spec); a circle is "lat,lon radius"
 * with the radius in kilometres.
 */
export interface LatLon {
  lat: number;
  lon: number;
}

function pair(text: string): LatLon | null {
  const [lat, lon, ...rest] = text.split(',').map((x) => Number(x.trim()));
  if (rest.length > 0 || lat === undefined || lon === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

/** Parses a CAP polygon; null when malformed (fewer than four pairs, or not closed). */
export function parsePolygon(text: string): LatLon[] | null {
  const points = text.trim().split(/\s+/).map(pair);
  if (points.length < 4 || points.some((p) => p === null)) return null;
  const pts = points as LatLon[];
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (first.lat !== last.lat || first.lon !== last.lon) return null;
  return pts;
}

/** Parses a CAP circle; null when malformed. */
export function parseCircle(text: string): { center: LatLon; radiusKm: number } | null {
  const [centre, radius, ...rest] = text.trim().split(/\s+/);
  const center = centre ? pair(centre) : null;
  const radiusKm = Number(radius);
  if (!center || rest.length > 0 || !Number.isFinite(radiusKm) || radiusKm < 0) return null;
  return { center, radiusKm };
}

/** Ray casting in the lat/lon plane: fine for the few-kilometre shapes of a commune warning. */
export function insidePolygon(p: LatLon, polygon: LatLon[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i]!;
    const b = polygon[j]!;
    if (a.lat > p.lat !== b.lat > p.lat && p.lon < ((b.lon - a.lon) * (p.lat - a.lat)) / (b.lat - a.lat) + a.lon) inside = !inside;
  }
  return inside;
}

/** Great-circle distance (haversine), km. */
export function distanceKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function insideCircle(p: LatLon, circle: { center: LatLon; radiusKm: number }): boolean {
  return distanceKm(p, circle.center) <= circle.radiusKm;
}
