// Sets request and response headers from its settings, and counts the
// requests seen by its instance (`x-plugin-count`) to show that in-memory
// state persists between requests. It has no response phase: the response
// headers are queued in onRequest (setResponseHeaders).
import { middleware, log } from '@wasmgate/plugin-sdk';

let inits = 0;

export default middleware((settings) => {
  const known = new Set(['requestHeaders', 'responseHeaders']);
  for (const k of Object.keys(settings)) {
    if (!known.has(k)) throw new Error(`unknown field \`${k}\``);
  }
  const headers = (field) => {
    const m = settings[field] ?? {};
    const ok = typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => typeof v === 'string');
    if (!ok) throw new Error(`${field}: expected a map of strings`);
    return Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  const requestHeaders = headers('requestHeaders');
  const responseHeaders = headers('responseHeaders');
  inits += 1;
  // The settings' headers, then x-plugin-inits and x-plugin-count, each
  // direction in one host call; if one is refused, one by one so the log names it.
  const request = [...requestHeaders, ['x-plugin-inits', String(inits)], ['x-plugin-count', '']];
  const response = [...responseHeaders, ['x-plugin-count', '']];
  let count = 0;
  // `set` is the batch method, `one` sets a single pair (to find a bad one).
  const stamp = (list, set, one) => {
    try {
      set(list);
    } catch {
      for (const pair of list) {
        try {
          one(pair);
        } catch (e) {
          log.warn(`cannot set ${pair[0]}: ${e.payload?.tag ?? e}`);
        }
      }
    }
  };
  return {
    onRequest(req) {
      count += 1;
      request[request.length - 1][1] = String(count);
      response[response.length - 1][1] = String(count);
      stamp(request, (l) => req.setHeaders(l), ([n, v]) => req.setHeader(n, v));
      // Queued now, set by the gateway on the response: one call per request.
      stamp(response, (l) => req.setResponseHeaders(l), (p) => req.setResponseHeaders([p]));
    },
  };
});
