/** Operator-facing errors of the audio pipeline, each with the HTTP status the console uses. */
import { errorFactory } from '@loalang/protocol';

const specs = {
  LOA_ERR_NOT_AUDIO: { status: 415, en: 'The file is not an audio file', vi: 'Tệp không phải là tệp âm thanh' },
  LOA_ERR_NO_AUDIO_STREAM: { status: 415, en: 'The file has no audio track', vi: 'Tệp không có kênh âm thanh' },
  LOA_ERR_AUDIO_TRUNCATED: { status: 400, en: 'The audio file is damaged or cut off', vi: 'Tệp âm thanh bị hỏng hoặc không đầy đủ' },
  LOA_ERR_AUDIO_TOO_LONG: { status: 413, en: 'The audio is too long', vi: 'Tệp âm thanh quá dài' },
  LOA_ERR_AUDIO_EMPTY: { status: 400, en: 'The audio file is empty', vi: 'Tệp âm thanh rỗng' },
  LOA_ERR_MEDIA_TIMEOUT: { status: 504, en: 'Processing the audio took too long', vi: 'Xử lý âm thanh quá lâu' },
  LOA_ERR_MEDIA_FAILED: { status: 500, en: 'Processing the audio failed', vi: 'Xử lý âm thanh thất bại' },
  LOA_ERR_TTS_UNAVAILABLE: { status: 503, en: 'Text-to-speech is not installed (Debian package espeak-ng)', vi: 'Chưa cài đặt chuyển văn bản thành giọng nói (gói espeak-ng)' },
  LOA_ERR_TTS_SERVICE: { status: 502, en: 'The text-to-speech service failed', vi: 'Dịch vụ chuyển văn bản thành giọng nói bị lỗi' },
  LOA_ERR_TTS_TEXT: { status: 400, en: 'The text cannot be spoken', vi: 'Không thể đọc văn bản này' },
} as const;

export type MediaErrorCode = keyof typeof specs;

export const mediaError = errorFactory<MediaErrorCode>(specs);
