import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSettings } from './settings.js';

test('settings have defaults and refuse unknown keys', () => {
  assert.deepEqual(parseSettings({}), { header: 'x-hello', value: 'hello from {{name}}' });
  assert.deepEqual(parseSettings({ header: 'x-a', value: 'b' }), { header: 'x-a', value: 'b' });
  assert.throws(() => parseSettings({ hedaer: 'x' }), /hedaer/);
});
