/** A plain landing page until the web console arrives: where the API and its docs are. */
export function homePage(): string {
  return `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>LoaLang</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}code{background:#eee;padding:0 .2rem}</style>
</head><body>
<h1>LoaLang — Loa truyền thanh thông minh</h1>
<p>Máy chủ đang chạy. Giao diện web đầy đủ sẽ có trong phiên bản sau; hiện có API REST.</p>
<p lang="en">The server is running. The full web console comes in a later version; the REST API is available now.</p>
<ul>
<li><a href="/api/docs">API (OpenAPI)</a></li>
<li><code>POST /api/v1/auth/login</code> → <code>{token}</code></li>
<li><a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></li>
</ul>
</body></html>`;
}
