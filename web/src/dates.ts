/** Dates as the browser's own clock and timezone read them (the user's day, not UTC's). */
const pad = (n: number) => String(n).padStart(2, '0');

/** YYYY-MM-DD of the local day, for date inputs. */
export const localDate = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** YYYY-MM-DDTHH:MM, for datetime-local inputs. */
export const localInput = (d: Date) => `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** HH:MM of the local time. */
export const localTime = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
