// The plugin's settings; every key is optional, unknown keys are refused.
export function parseSettings(settings = {}) {
  const known = new Set(['header', 'value']);
  for (const k of Object.keys(settings)) {
    if (!known.has(k)) throw new Error(`unknown field \`${k}\``);
  }
  const s = { header: 'x-hello', value: 'hello from {{name}}', ...settings };
  if (typeof s.header !== 'string' || s.header === '') throw new Error('`header` must be a non-empty string');
  if (typeof s.value !== 'string') throw new Error('`value` must be a string');
  return s;
}
