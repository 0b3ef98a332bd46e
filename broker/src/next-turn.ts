/**
 * Lets the event loop turn: what waits on sockets (MQTT, HTTP) and timers runs before the caller
 * goes on. On SQLite every query answers at once, so a loop of awaited queries never gives the
 * loop a turn by itself: the programme refresh of 10,000 speakers held every socket for over a
 * minute, and the broker, reading no pings meanwhile, dropped them all for missed heartbeats
 * (bench/soak.mjs, issue 19). Work over many devices takes a turn between devices.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
