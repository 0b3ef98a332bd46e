/** Reads a Server-Sent Events stream (with a bearer token), collecting events until closed. */
export function readEvents(url: string, token: string | null): { events: { event: string; data: unknown }[]; close: () => void; status: Promise<number>; ended: Promise<void> } {
  const events: { event: string; data: unknown }[] = [];
  const ctrl = new AbortController();
  let answered: (status: number) => void = () => undefined;
  const status = new Promise<number>((r) => (answered = r));
  const ended = (async () => {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: ctrl.signal });
    answered(res.status);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch(() => undefined);
  return { events, close: () => ctrl.abort(), status, ended };
}
