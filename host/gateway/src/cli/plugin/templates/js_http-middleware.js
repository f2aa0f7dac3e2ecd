// {{name}}: {{description}}
import { middleware, log } from '@wasmgate/plugin-sdk';
import { parseSettings } from './settings.js';

export default middleware((settings) => {
  const { header, value } = parseSettings(settings);
  let seen = 0; // lives as long as the instance
  return {
    onRequest(req) {
      seen += 1;
      try {
        req.setHeader(header, value);
      } catch (e) {
        log.warn(`cannot set ${header}: ${e.payload?.tag ?? e}`);
      }
    },
    onResponse(_req, resp) {
      resp.setHeader(header, value);
    },
  };
});
