/** The server's error codes, declared once. Each carries the HTTP status the console maps it to. */
import { errorFactory, type ErrorText, type LoaError } from '@loalang/protocol';

const specs = {
  LOA_ERR_NOT_FOUND: { status: 404, en: 'Not found', vi: 'Không tìm thấy' },
  LOA_ERR_FORBIDDEN: { status: 403, en: 'You may not do this here', vi: 'Bạn không có quyền thực hiện thao tác này' },
  LOA_ERR_OUT_OF_SCOPE: {
    status: 403,
    en: 'This is outside the area you are responsible for',
    vi: 'Nội dung này nằm ngoài địa bàn bạn phụ trách',
  },
  LOA_ERR_UNAUTHENTICATED: { status: 401, en: 'Please log in', vi: 'Vui lòng đăng nhập' },
  LOA_ERR_KEY_REVOKED: { status: 401, en: 'This API key has been revoked', vi: 'Khóa API này đã bị thu hồi' },
  LOA_ERR_KEY_EXPIRED: { status: 401, en: 'This API key has expired', vi: 'Khóa API này đã hết hạn' },
  LOA_ERR_BAD_LOGIN: { status: 401, en: 'Wrong username or password', vi: 'Sai tên đăng nhập hoặc mật khẩu' },
  LOA_ERR_INVALID: { status: 400, en: 'Invalid request', vi: 'Yêu cầu không hợp lệ' },
  LOA_ERR_CONFLICT: { status: 409, en: 'Conflicts with existing data', vi: 'Xung đột với dữ liệu hiện có' },
  LOA_ERR_IN_USE: { status: 409, en: 'Still in use', vi: 'Đang được sử dụng' },
  LOA_ERR_QUIET_HOURS: { status: 400, en: 'Inside quiet hours', vi: 'Trong giờ yên tĩnh' },
  LOA_ERR_SCHEDULE_PLAN: { status: 400, en: 'The schedule cannot play as planned', vi: 'Lịch phát không thể phát như đã đặt' },
  LOA_ERR_LOCKED: { status: 429, en: 'Too many wrong passwords from this address: wait before trying again', vi: 'Nhập sai mật khẩu quá nhiều lần từ địa chỉ này: vui lòng đợi rồi thử lại' },
  LOA_ERR_RATE_LIMITED: { status: 429, en: 'Too many attempts; wait a minute and try again', vi: 'Quá nhiều lần thử; vui lòng đợi một phút rồi thử lại' },
  LOA_ERR_DATABASE_UNAVAILABLE: {
    status: 503,
    en: 'The database cannot be reached right now; speakers keep playing their programmes. Try again in a moment',
    vi: 'Hiện không kết nối được cơ sở dữ liệu; các loa vẫn phát theo chương trình đã nhận. Vui lòng thử lại sau ít phút',
  },
  LOA_ERR_CLUSTER_SECRET: {
    status: 503,
    en: 'This server node does not share the cluster secret of the running nodes',
    vi: 'Nút máy chủ này không dùng chung khóa bí mật của cụm với các nút đang chạy',
  },
  LOA_ERR_CLUSTER_CONFIG: {
    status: 500,
    en: 'The cluster settings are incomplete',
    vi: 'Cấu hình cụm máy chủ chưa đầy đủ',
  },
  LOA_ERR_UPSTREAM_UNREACHABLE: {
    status: 502,
    en: 'A resource the request points at could not be fetched',
    vi: 'Không tải được tài nguyên mà yêu cầu trỏ tới',
  },
  LOA_ERR_NOT_SUPPORTED: { status: 400, en: 'Not supported in this version', vi: 'Phiên bản này chưa hỗ trợ' },
} satisfies Record<string, ErrorText & { status: number }>;

export type BrokerErrorCode = keyof typeof specs;

/** Builds a server error; a detail follows the generic sentence in each language. */
export const brokerError = errorFactory<BrokerErrorCode>(specs);

export function httpStatusOf(err: LoaError): number {
  const fromDetails = err.details?.['httpStatus'];
  if (typeof fromDetails === 'number') return fromDetails;
  return (specs as Record<string, ErrorText>)[err.code]?.status ?? 500;
}
