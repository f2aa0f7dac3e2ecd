// {{name}}: {{description}}
import { matcher } from '@wasmgate/plugin-sdk';
import { parseSettings } from './settings.js';

export default matcher((settings) => {
  const { header, value } = parseSettings(settings);
  return {
    matches(req) {
      return req.header(header) === value;
    },
  };
});
