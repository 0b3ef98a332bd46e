/**
 * The options of @fastify/helmet for the console: helmet's defaults (CSP `script-src 'self'`,
 * nosniff, frame options…) with what the console needs and nothing more.
 */
import type { FastifyHelmetOptions } from '@fastify/helmet';

export function helmetOptions(o: { tls: boolean; tileOrigin: string | null }): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: {
      directives: {
        // Map tiles, when configured, are the one outside source the browser may load (images only).
        'img-src': ["'self'", 'data:', ...(o.tileOrigin ? [o.tileOrigin] : [])],
        // The preview players ("Nghe thử") play audio fetched with the token, as blob: URLs.
        'media-src': ["'self'", 'blob:'],
        // Only a server that speaks TLS may tell the browser to upgrade: over plain HTTP (the
        // --plaintext trial on a closed network, reached by a LAN name) the scripts would be
        // fetched over HTTPS and the page stay blank (issue 14).
        'upgrade-insecure-requests': o.tls ? [] : null,
      },
    },
    // Likewise HSTS, and the opener policy, which browsers ignore on a plain-HTTP origin other
    // than localhost and complain about in the console.
    strictTransportSecurity: o.tls,
    crossOriginOpenerPolicy: o.tls,
  };
}
