import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the page's build writes it: packages/ui/dist/page (from src/server or dist/server alike). */
export const DEFAULT_PAGE_DIR = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'page');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * A file of the page by its URL path, confined to `dir` (no `..`, no hidden files); undefined when there is none.
 * `/` is index.html.
 */
export async function pageFile(dir: string, urlPath: string): Promise<{ body: Buffer; type: string } | undefined> {
  let relative: string;
  try {
    relative = decodeURIComponent(urlPath === '/' ? '/index.html' : urlPath);
  } catch {
    return undefined;
  }
  if (relative.includes('\0') || relative.split('/').some((part) => part.startsWith('.'))) return undefined;
  const root = path.resolve(dir);
  const file = path.resolve(root, `.${relative}`);
  if (!file.startsWith(`${root}${path.sep}`)) return undefined;
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  return { body: await readFile(file), type };
}
