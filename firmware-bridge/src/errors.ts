/** firmware-bridge error codes, with text for technicians in both languages. */
import { errorFactory } from '@loalang/protocol';

const specs = {
  LOA_ERR_AMP_TIMEOUT: { en: 'The amplifier board did not answer', vi: 'Bo mạch khuếch đại không phản hồi' },
  LOA_ERR_AMP_NACK: { en: 'The amplifier board refused the command', vi: 'Bo mạch khuếch đại từ chối lệnh' },
  LOA_ERR_LINK_DOWN: { en: 'The serial link to the amplifier board is down', vi: 'Mất kết nối cổng nối tiếp tới bo mạch khuếch đại' },
  LOA_ERR_AMP_STOPPED: { en: 'The amplifier driver is stopped', vi: 'Trình điều khiển bộ khuếch đại đã dừng' },
} as const;

export type AmpErrorCode = keyof typeof specs;

export const ampError = errorFactory<AmpErrorCode>(specs);
