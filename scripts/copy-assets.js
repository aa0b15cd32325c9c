// Copies the non-TypeScript files the services load at run time (Lua scripts)
// into dist/, beside the compiled code that reads them.
const { cpSync, readdirSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const ROOT = join(__dirname, '..');
const ASSET = /\.lua$/;

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (ASSET.test(name)) cpSync(path, join(ROOT, 'dist', relative(ROOT, path)));
  }
}

for (const top of ['apps', 'libs']) copyAssets(join(ROOT, top));
