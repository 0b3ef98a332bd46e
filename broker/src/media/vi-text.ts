/**
 * Spells numbers, times and dates the Vietnamese way before text-to-speech, so a bulletin
 * says "mười lăm giờ ba mươi" for 15:30 and "hai mươi mốt" for 21, as listeners expect.
 */
const DIGITS = ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'];
const SCALES = ['', 'nghìn', 'triệu', 'tỷ'];

/** 0–999; `full` reads a leading "không trăm" (inside a larger number: 1.005 → … không trăm linh năm). */
function belowThousand(n: number, full: boolean): string {
  const h = Math.floor(n / 100);
  const t = Math.floor((n % 100) / 10);
  const u = n % 10;
  const out: string[] = [];
  if (h > 0 || full) out.push(DIGITS[h]!, 'trăm');
  if (t === 0) {
    if (u > 0 && (h > 0 || full)) out.push('linh');
    if (u > 0 || out.length === 0) out.push(DIGITS[u]!);
  } else if (t === 1) {
    out.push('mười');
    if (u > 0) out.push(u === 5 ? 'lăm' : DIGITS[u]!);
  } else {
    out.push(DIGITS[t]!, 'mươi');
    if (u > 0) out.push(u === 1 ? 'mốt' : u === 4 ? 'tư' : u === 5 ? 'lăm' : DIGITS[u]!);
  }
  return out.join(' ');
}

export function numberToVietnamese(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) return String(n);
  if (n === 0) return 'không';
  const groups: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 1000)) groups.push(x % 1000);
  if (groups.length > SCALES.length) return String(n);
  const words: string[] = [];
  for (let i = groups.length - 1; i >= 0; i--) {
    const g = groups[i]!;
    if (g === 0) continue;
    words.push(belowThousand(g, i < groups.length - 1), SCALES[i]!);
  }
  return words.filter(Boolean).join(' ');
}

/** Rewrites times (15:30, 6h30), dates (22/11/2026) and numbers (1.500, 2,5) into words. */
export function spellNumbersVi(text: string): string {
  const num = (s: string) => numberToVietnamese(Number(s));
  return text
    .replace(/(?:ngày\s+)?\b(\d{1,2})\/(\d{1,2})\/(\d{4})\b/giu, (m, d: string, mo: string, y: string) =>
      Number(d) >= 1 && Number(d) <= 31 && Number(mo) >= 1 && Number(mo) <= 12 ? `ngày ${num(d)} tháng ${num(mo)} năm ${num(y)}` : m,
    )
    .replace(/\b([01]?\d|2[0-3])(?::|h)([0-5]\d)\b/g, (_m, h: string, mi: string) => (Number(mi) === 0 ? `${num(h)} giờ` : `${num(h)} giờ ${num(mi)}`))
    .replace(/\b([01]?\d|2[0-3])h\b/g, (_m, h: string) => `${num(h)} giờ`)
    .replace(/\b(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?\b/g, (_m, int: string, dec: string | undefined) => {
      const whole = num(int.replace(/\./g, ''));
      return dec === undefined ? whole : `${whole} phẩy ${[...dec].map((c) => DIGITS[Number(c)]).join(' ')}`;
    });
}
