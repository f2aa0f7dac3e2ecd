// A fixed-window rate limiter on the `kv` store: at most `limit` requests
// per `windowMs` per key (a header's value, else the client address);
// past it, answers 429.
import { middleware, respond, log, errorMessage } from '@wasmgate/plugin-sdk';
import * as kv from '@wasmgate/plugin-sdk/kv';

export default middleware((settings) => {
  for (const k of Object.keys(settings)) {
    if (!['limit', 'windowMs', 'keyHeader'].includes(k)) throw new Error(`unknown field \`${k}\``);
  }
  if (settings.limit === undefined) throw new Error('missing field `limit`');
  const limit = settings.limit;
  const windowMs = settings.windowMs ?? 1000;
  const keyHeader = settings.keyHeader ?? undefined;
  if (!Number.isInteger(limit) || !Number.isInteger(windowMs) || limit < 1 || windowMs <= 0) {
    throw new Error('limit and windowMs must be positive');
  }
  const retryAfter = String(Math.ceil(windowMs / 1000));
  return {
    onRequest(req) {
      let who = keyHeader === undefined ? undefined : req.header(keyHeader);
      if (who === undefined) {
        const addr = req.clientAddress();
        if (addr !== undefined) {
          const i = addr.lastIndexOf(':');
          who = i < 0 ? addr : addr.slice(0, i);
        }
      }
      who ??= 'anonymous';
      let n;
      try {
        n = kv.increment(`rl:${who}`, 1, windowMs);
      } catch (e) {
        log.warn(`kv failed, letting the request through: ${errorMessage(e)}`);
        return;
      }
      if (n > limit) {
        return respond(429, {
          headers: [
            ['content-type', 'text/plain'],
            ['retry-after', retryAfter],
          ],
          body: 'rate limit exceeded\n',
        });
      }
      req.setHeader('x-ratelimit-remaining', String(limit - n));
    },
  };
});
