#!/usr/bin/env node
// Builds a JavaScript plugin into a WebAssembly component with ComponentizeJS
// (StarlingMonkey), through its JS API.
//
//   node sdk/js/build.mjs --world http-middleware --out plugin.wasm \
//        [--wit wit/] [--enable random,clocks,stdio] plugins/js/header-stamp/index.js
//
// The plugin's folder is copied next to a copy of this SDK, its imports of
// `@wasmgate/plugin-sdk` (and `/kv`, `/http`) are pointed at that copy, and a
// generated entry module exports the world's functions. WASI features the
// plugin does not ask for with --enable are left out, so the component imports
// little beyond the wasmgate interfaces.

import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { componentize } from '@bytecodealliance/componentize-js';
import { init as lexerInit, parse as lexerParse } from 'es-module-lexer';

const SDK_DIR = dirname(fileURLToPath(import.meta.url));
const SDK_FILES = ['index.js', 'kv.js', 'http.js'];
const FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];
const SPECIFIERS = {
  '@wasmgate/plugin-sdk': 'index.js',
  '@wasmgate/plugin-sdk/kv': 'kv.js',
  '@wasmgate/plugin-sdk/http': 'http.js',
};

const { values, positionals } = parseArgs({
  options: {
    world: { type: 'string', default: 'http-middleware' },
    out: { type: 'string' },
    wit: { type: 'string', default: resolve(SDK_DIR, '../../wit') },
    enable: { type: 'string', default: '' },
  },
  allowPositionals: true,
});
if (positionals.length !== 1 || !values.out) {
  console.error('usage: build.mjs --world WORLD --out OUT.wasm [--wit DIR] [--enable f1,f2] ENTRY.js');
  process.exit(2);
}
if (!['http-middleware', 'route-matcher'].includes(values.world)) {
  console.error(`unsupported world ${values.world} (http-middleware, route-matcher)`);
  process.exit(2);
}
const enabled = values.enable.split(',').filter(Boolean);
for (const f of enabled) {
  if (!FEATURES.includes(f)) {
    console.error(`unknown feature ${f} (${FEATURES.join(', ')})`);
    process.exit(2);
  }
}

const entry = resolve(positionals[0]);
const pluginDir = dirname(entry);
const out = resolve(values.out);
const work = `${out}.build`;
await rm(work, { recursive: true, force: true });
await mkdir(join(work, 'sdk'), { recursive: true });
for (const f of SDK_FILES) await cp(join(SDK_DIR, f), join(work, 'sdk', f));
await cp(pluginDir, join(work, 'plugin'), {
  recursive: true,
  filter: (src) => !/(^|\/)(node_modules|\.git)$/.test(src) && !src.endsWith('.wasm'),
});

// Point the SDK's package specifiers at the copy, and note which optional
// host interfaces the plugin uses.
const uses = new Set();
await lexerInit;
async function rewrite(dir) {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, ent.name);
    if (ent.isDirectory()) {
      await rewrite(path);
      continue;
    }
    if (!/\.m?js$/.test(ent.name)) continue;
    const src = await readFile(path, 'utf8');
    const [imports] = lexerParse(src);
    let outSrc = '';
    let last = 0;
    for (const imp of imports) {
      if (imp.n === '@wasmgate/plugin-sdk/kv' || imp.n?.startsWith('wasmgate:plugin/kv@')) uses.add('kv');
      if (imp.n === '@wasmgate/plugin-sdk/http' || imp.n?.startsWith('wasmgate:plugin/outbound-http@')) {
        uses.add('outbound-http');
      }
      const target = imp.n && SPECIFIERS[imp.n];
      if (!target) continue;
      let rel = relative(dirname(path), join(work, 'sdk', target));
      if (!rel.startsWith('.')) rel = `./${rel}`;
      outSrc += src.slice(last, imp.s) + rel;
      last = imp.e;
    }
    if (last > 0) await writeFile(path, outSrc + src.slice(last));
  }
}
await rewrite(join(work, 'plugin'));

const entryRel = `./plugin/${relative(pluginDir, entry)}`;
const names =
  values.world === 'route-matcher' ? ['configure', 'matches'] : ['configure', 'onRequest', 'onResponse'];
const entryPath = join(work, 'entry.js');
await writeFile(
  entryPath,
  `import plugin from ${JSON.stringify(entryRel)};
import { exportsFor } from './sdk/index.js';
const world = exportsFor(plugin, ${JSON.stringify(values.world)});
${names.map((n) => `export const ${n} = world.${n};`).join('\n')}
`,
);

// ComponentizeJS imports every interface of the world, used or not, and the
// gateway refuses imports that are not granted: for a middleware, build
// against a world with the same exports and only the interfaces it uses.
let witPath = resolve(values.wit);
let worldName = values.world;
if (values.world === 'http-middleware') {
  witPath = join(work, 'wit');
  await cp(resolve(values.wit), witPath, { recursive: true, filter: (s) => !s.endsWith('.md') });
  worldName = 'js-http-middleware';
  // The http-middleware world of worlds.wit, renamed, without the host
  // interfaces the plugin does not use.
  const worlds = await readFile(join(witPath, 'worlds.wit'), 'utf8');
  const body = worlds.match(/^world http-middleware \{\n([\s\S]*?)^\}/m);
  if (!body) throw new Error(`no http-middleware world in ${values.wit}/worlds.wit`);
  const optional = new Set(['kv', 'outbound-http']);
  const lines = body[1]
    .split('\n')
    .filter((l) => {
      const m = l.match(/^\s*import ([\w-]+);/);
      return !m || !optional.has(m[1]) || uses.has(m[1]);
    })
    .join('\n');
  const pkg = (await readFile(join(witPath, 'types.wit'), 'utf8')).match(/^package [^;]+;/m)[0];
  await writeFile(join(witPath, 'js-plugin.wit'), `${pkg}\n\nworld js-http-middleware {\n${lines}}\n`);
}

const started = Date.now();
const { component } = await componentize({
  sourcePath: entryPath,
  witPath,
  worldName,
  disableFeatures: FEATURES.filter((f) => !enabled.includes(f)),
});
await writeFile(out, component);
await rm(work, { recursive: true, force: true });
console.error(
  `built ${out} (${(component.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
