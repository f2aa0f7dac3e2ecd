// Sets request and response headers from its settings, and counts the
// requests seen by its instance (`x-plugin-count`) to show that in-memory
// state persists between requests.
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
  // phase in one host call; if one is refused, one by one so the log names it.
  const request = [...requestHeaders, ['x-plugin-inits', String(inits)], ['x-plugin-count', '']];
  const response = [...responseHeaders, ['x-plugin-count', '']];
  let count = 0;
  const stamp = (target, list, warn) => {
    try {
      target.setHeaders(list);
    } catch {
      for (const [name, value] of list) {
        try {
          target.setHeader(name, value);
        } catch (e) {
          if (warn) log.warn(`cannot set ${name}: ${e.payload?.tag ?? e}`);
        }
      }
    }
  };
  return {
    onRequest(req) {
      count += 1;
      request[request.length - 1][1] = String(count);
      response[response.length - 1][1] = String(count);
      stamp(req, request, true);
    },
    onResponse(_req, resp) {
      stamp(resp, response, false);
    },
  };
});
