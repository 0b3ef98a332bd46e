/** WHERE parts shared by list queries: a half-open time range on one column, and a set of devices. */
export function timeAndDeviceFilters(timeColumn: string, q: { from?: string; to?: string; deviceIds?: Set<string> }): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.from) {
    where.push(`${timeColumn} >= ?`);
    params.push(q.from);
  }
  if (q.to) {
    where.push(`${timeColumn} < ?`);
    params.push(q.to);
  }
  if (q.deviceIds) {
    // In SQL, so a LIMIT applies to the caller's rows, not to everyone's.
    where.push('device_id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify([...q.deviceIds]));
  }
  return { where, params };
}
