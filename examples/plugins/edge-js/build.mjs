// Builds a JavaScript stage into a WebAssembly component with componentize-js.
//
//   npm install       # once: installs componentize-js (as pinned in package-lock.json)
//   npm run build     # = node build.mjs: src/stage.js -> edge.wasm, about 10-40 s, offline
//
// Options (for other stages): node build.mjs [--src FILE] [--wit DIR] [--world NAME] [--out FILE]
// (`jco componentize` 1.35 fails on this machine; calling componentize-js's API works.)
import { componentize } from '@bytecodealliance/componentize-js';
import { rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    src: { type: 'string', default: resolve(here, 'src/stage.js') },
    wit: { type: 'string', default: resolve(here, 'wit') },
    world: { type: 'string', default: 'edge' },
    out: { type: 'string', default: resolve(here, 'edge.wasm') },
  },
});

const started = Date.now();
const { component } = await componentize({
  sourcePath: resolve(values.src),
  witPath: resolve(values.wit),
  worldName: values.world,
});
// Written next to the output and renamed, so a reader never sees half a component.
const tmp = `${values.out}.tmp.${process.pid}`;
await writeFile(tmp, component);
await rename(tmp, values.out);
console.log(`wrote ${values.out} (${component.length} bytes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
