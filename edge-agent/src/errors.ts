/** Edge agent error codes, with text for technicians in both languages. */
import { errorFactory } from '@loalang/protocol';

const specs = {
  LOA_ERR_CONFIG: { en: 'Invalid agent configuration', vi: 'Cấu hình thiết bị không hợp lệ' },
  LOA_ERR_CONTENT_HASH: { en: 'Downloaded audio does not match its checksum', vi: 'Tệp âm thanh tải về không khớp mã kiểm tra' },
  LOA_ERR_CONTENT_DOWNLOAD: { en: 'Downloading audio failed', vi: 'Tải tệp âm thanh thất bại' },
  LOA_ERR_PLAYBACK: { en: 'Playback failed', vi: 'Phát âm thanh thất bại' },
  LOA_ERR_NO_FFMPEG: { en: 'ffmpeg not found (install the Debian package ffmpeg)', vi: 'Không tìm thấy ffmpeg (cài gói ffmpeg)' },
} as const;

export type AgentErrorCode = keyof typeof specs;

export const agentError = errorFactory<AgentErrorCode>(specs);
