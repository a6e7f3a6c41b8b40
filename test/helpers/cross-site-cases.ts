/**
 * The cross-site cases, for the fast tier (test/unit/http-contracts.test.ts) and the one over real
 * sockets with an upstream that counts what reaches it (test/integration/cross-site.test.ts).
 */

/** The [server] keys both run under. */
export const CROSS_SITE_SERVER_TOML = 'hosts = ["seedbox.example"]\nallowed_origins = ["https://ui.example.org"]';

/** What a browser page may send, each refused with 403 and a reason matching the pattern. */
export const REFUSED_CROSS_SITE: ReadonlyArray<readonly [string, Readonly<Record<string, string>>, RegExp]> = [
  ['a foreign Origin, even with valid credentials', { origin: 'https://evil.example' }, /Origin "https:\/\/evil\.example"/],
  ['a page served from the gateway\'s own address (Origin is not a trusted UI)', { origin: 'http://127.0.0.1:8000' }, /requests from web pages are refused/],
  ['a DNS-rebinding name in Host', { host: 'attacker.example:8000' }, /Host "attacker\.example:8000" is not one of this gateway's names/],
  ['a DNS-rebinding page (its Origin matches its Host)', { host: 'attacker.example:8000', origin: 'http://attacker.example:8000' }, /attacker\.example/],
  ['a cross-site fetch that hides its Origin', { 'sec-fetch-site': 'cross-site' }, /Sec-Fetch-Site: cross-site/],
];

/** What clients and trusted pages send, each let through. */
export const ALLOWED_CROSS_SITE: ReadonlyArray<readonly [string, Readonly<Record<string, string>>]> = [
  ['an XML-RPC client on 127.0.0.1 (no Origin, no Sec-Fetch-*)', {}],
  ['a client using localhost', { host: 'localhost:8000' }],
  ['a client using an IPv6 literal', { host: '[::1]:8000' }],
  ['a client using a name listed in server.hosts', { host: 'SEEDBOX.example:443' }],
  ['a page from an origin listed in server.allowed_origins', { origin: 'https://ui.example.org' }],
  ['a same-origin browser request without Origin', { 'sec-fetch-site': 'same-origin' }],
  ['a request the user made by hand in the browser (Sec-Fetch-Site: none)', { 'sec-fetch-site': 'none' }],
];

/** The content types an HTML form can send without a CORS preflight: refused with 415. */
export const FORM_CONTENT_TYPES: readonly string[] = ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x'];
