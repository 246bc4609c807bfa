// Bundles the browser page (src/page/app) into dist/page: index.html, app.js, app.css (and
// favicon.svg, so the browser's own request for an icon finds one). Run by `npm run build`
// after tsc. One script and one stylesheet from the page's own origin, nothing inline: the UI server sends a
// Content-Security-Policy of 'self' only, and nothing is fetched from the internet at run time.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const app = fileURLToPath(new URL('../src/page/app/', import.meta.url));
// The browser tests build into a folder of their own (the first argument), so they never race a build.
const out = process.argv[2] ? `${resolve(process.argv[2])}/` : fileURLToPath(new URL('../dist/page/', import.meta.url));

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: `${app}main.tsx` },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: `${app}../tsconfig.json`,
  logLevel: 'warning',
});
await build({
  entryPoints: { app: `${app}app.css` },
  outdir: out,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'favicon.svg']) await copyFile(`${app}${file}`, `${out}${file}`);
