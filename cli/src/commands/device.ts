/** `loalang device add`: provisions a device through the REST API and prints its agent config. */
import { apiToken, parse } from './util.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    name: { type: 'string' },
    area: { type: 'string' },
    server: { type: 'string', default: 'http://127.0.0.1:8080' },
  });
  if (positionals[0] !== 'add' || !values.name || !values.area) {
    process.stderr.write('usage: loalang device add --name NAME --area AREA_ID [--server URL]\n');
    return 2;
  }
  const server = String(values.server).replace(/\/$/, '');
  const res = await fetch(`${server}/api/v1/devices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await apiToken(server)}` },
    body: JSON.stringify({ name: values.name, areaId: values.area }),
  });
  const body = (await res.json()) as { agentConfig?: unknown; error?: { message: string; messageVi: string } };
  if (!res.ok || !body.agentConfig) {
    process.stderr.write(`loalang: ${body.error?.messageVi ?? ''} / ${body.error?.message ?? res.statusText}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(body.agentConfig, null, 2)}\n`);
  process.stderr.write('Lưu cấu hình này ngay: mật khẩu chỉ hiện một lần. / Save this config now: the password is shown only once.\n');
  return 0;
}
