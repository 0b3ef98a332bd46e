/** Vietnamese first (the console's users), English on request; the choice is kept in the browser. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export type Lang = 'vi' | 'en';

const vi = {
  appName: 'LoaLang',
  tagline: 'Loa truyền thanh thông minh',
  username: 'Tên đăng nhập',
  password: 'Mật khẩu',
  login: 'Đăng nhập',
  logout: 'Đăng xuất',
  loggingIn: 'Đang đăng nhập…',
  language: 'English',
  navDashboard: 'Tổng quan',
  navAlerts: 'Cảnh báo khẩn cấp',
  online: 'Trực tuyến',
  offline: 'Mất kết nối',
  playing: 'Đang phát',
  alarms: 'Cảnh báo kỹ thuật',
  area: 'Địa bàn',
  devices: 'Loa',
  todayProgramme: 'Chương trình hôm nay',
  noPlays: 'Hôm nay không có chương trình nào.',
  recentAlerts: 'Cảnh báo gần đây',
  noAlerts: 'Chưa có cảnh báo nào.',
  newAlert: 'Soạn cảnh báo',
  alertTitle: 'Tiêu đề',
  alertText: 'Nội dung (máy sẽ đọc bằng giọng nói)',
  alertTargets: 'Phát tới',
  repeat: 'Số lần phát',
  send: 'Phát cảnh báo',
  confirmTitle: 'Xác nhận phát cảnh báo',
  confirmCount: (n: number) => `${n} loa sẽ phát cảnh báo này ngay lập tức.`,
  confirmYes: 'Phát ngay',
  cancel: 'Huỷ',
  cancelAlert: 'Dừng cảnh báo',
  deliveryBoard: 'Tình trạng nhận cảnh báo',
  chooseArea: 'Chọn ít nhất một địa bàn.',
  needText: 'Nhập nội dung cảnh báo.',
  live: 'Cập nhật trực tiếp',
  device: 'Loa',
  state: 'Trạng thái',
  states: {
    pending: 'Đang gửi',
    offline: 'Mất kết nối',
    received: 'Đã nhận',
    started: 'Đang phát',
    finished: 'Đã phát xong',
    failed: 'Lỗi',
    cancelled: 'Đã dừng',
    expired: 'Hết hạn',
    interrupted: 'Bị ngắt',
  } as Record<string, string>,
  alertStates: { active: 'Đang hiệu lực', cancelled: 'Đã dừng', expired: 'Hết hạn', replaced: 'Đã thay thế' } as Record<string, string>,
  total: 'Tổng',
  at: 'Lúc',
  error: 'Lỗi',
};

type Dict = typeof vi;

const en: Dict = {
  appName: 'LoaLang',
  tagline: 'Smart commune loudspeakers',
  username: 'Username',
  password: 'Password',
  login: 'Log in',
  logout: 'Log out',
  loggingIn: 'Logging in…',
  language: 'Tiếng Việt',
  navDashboard: 'Overview',
  navAlerts: 'Emergency alerts',
  online: 'Online',
  offline: 'Offline',
  playing: 'Playing',
  alarms: 'Technical alarms',
  area: 'Area',
  devices: 'Speakers',
  todayProgramme: "Today's programme",
  noPlays: 'Nothing is scheduled today.',
  recentAlerts: 'Recent alerts',
  noAlerts: 'No alerts yet.',
  newAlert: 'Compose an alert',
  alertTitle: 'Title',
  alertText: 'Text (read out by the speech engine)',
  alertTargets: 'Send to',
  repeat: 'Times to play',
  send: 'Send the alert',
  confirmTitle: 'Confirm the alert',
  confirmCount: (n: number) => `${n} speaker${n === 1 ? '' : 's'} will sound this alert at once.`,
  confirmYes: 'Send now',
  cancel: 'Cancel',
  cancelAlert: 'Stop the alert',
  deliveryBoard: 'Delivery',
  chooseArea: 'Choose at least one area.',
  needText: 'Type the alert text.',
  live: 'Live',
  device: 'Speaker',
  state: 'State',
  states: {
    pending: 'Sending',
    offline: 'Offline',
    received: 'Received',
    started: 'Playing',
    finished: 'Finished',
    failed: 'Failed',
    cancelled: 'Stopped',
    expired: 'Expired',
    interrupted: 'Interrupted',
  },
  alertStates: { active: 'Active', cancelled: 'Stopped', expired: 'Expired', replaced: 'Replaced' },
  total: 'Total',
  at: 'At',
  error: 'Error',
};

export const dictionaries: Record<Lang, Dict> = { vi, en };

export function savedLang(): Lang {
  return localStorage.getItem('loalang.lang') === 'en' ? 'en' : 'vi';
}

export function saveLang(lang: Lang): void {
  localStorage.setItem('loalang.lang', lang);
  document.documentElement.lang = lang;
}

export const LangContext = createContext<{ lang: Lang; t: Dict }>({ lang: 'vi', t: vi });
export const useT = () => useContext(LangContext);
