/**
 * Audio an upstream system points at (a CAP resource's `uri`, a bulletin's `audioUrl`), fetched
 * only from hosts an administrator listed: no request to internal addresses on a sender's
 * say-so. Redirects are not followed (they could lead anywhere); the answer's size and the time
 * it may take are bounded.
 */

export interface FetchAudioOptions {
  /** Lower-case host names audio may come from. */
  allowedHosts: readonly string[];
  /** The setting that lists them, named in the refusal (e.g. LOALANG_CAP_AUDIO_HOSTS). */
  setting: string;
  maxBytes?: number;
  timeoutMs?: number;
  /** The HTTP client; the global fetch unless a test gives another. */
  fetch?: typeof fetch;
}

export const MAX_FETCHED_AUDIO_BYTES = 50 * 1024 * 1024;
export const FETCH_AUDIO_TIMEOUT_MS = 20_000;

/** Why audio could not be fetched: `refused` (not allowed: URL, scheme, host) or `unreachable` (the fetch itself failed). */
export class AudioFetchError extends Error {
  constructor(
    readonly kind: 'refused' | 'unreachable',
    message: string,
  ) {
    super(message);
  }
}

export async function fetchAudio(uri: string, o: FetchAudioOptions): Promise<Buffer> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new AudioFetchError('refused', `not a URL: ${uri.slice(0, 100)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AudioFetchError('refused', `only http(s) audio is fetched, not ${url.protocol}`);
  if (!o.allowedHosts.includes(url.hostname.toLowerCase())) throw new AudioFetchError('refused', `audio host ${url.hostname} is not on ${o.setting}`);
  const maxBytes = o.maxBytes ?? MAX_FETCHED_AUDIO_BYTES;
  try {
    const res = await (o.fetch ?? fetch)(url, { signal: AbortSignal.timeout(o.timeoutMs ?? FETCH_AUDIO_TIMEOUT_MS), redirect: 'error' });
    if (!res.ok || !res.body) throw new AudioFetchError('unreachable', `HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxBytes) throw new AudioFetchError('unreachable', `larger than ${maxBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Uint8Array).length;
      if (size > maxBytes) throw new AudioFetchError('unreachable', `larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof AudioFetchError) throw err;
    throw new AudioFetchError('unreachable', err instanceof Error ? (err.name === 'TimeoutError' ? 'no answer in time' : String((err.cause as Error | undefined)?.message ?? err.message)) : String(err));
  }
}
