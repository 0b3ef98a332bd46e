import { ApiFailure } from '../api.js';
import type { Lang } from '../i18n.js';

/** The server's message in the user's language; network failures in plain words. */
export function messageOf(err: unknown, lang: Lang): string {
  if (err instanceof ApiFailure) return lang === 'vi' ? err.error.messageVi : err.error.message;
  return lang === 'vi' ? 'Không kết nối được máy chủ' : 'Cannot reach the server';
}

export const isUnauthorized = (err: unknown) => err instanceof ApiFailure && err.status === 401;

/** An error handler for loads: a lapsed session logs out, anything else is shown in the user's language. */
export function onLoadError(lang: Lang, onUnauthorized: () => void, show: (message: string) => void): (err: unknown) => void {
  return (err) => (isUnauthorized(err) ? onUnauthorized() : show(messageOf(err, lang)));
}
