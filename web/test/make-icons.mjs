// Renders public/app/icon.svg to the PNG icons the manifest lists (run once
// after changing the SVG: `node test/make-icons.mjs`).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { launchBrowser } from './harness.mjs';

const dir = resolve(import.meta.dirname, '..', 'public', 'app');
const svg = readFileSync(resolve(dir, 'icon.svg'), 'utf8');
const browser = await launchBrowser();
for (const size of [192, 512]) {
  const p = await browser.newPage({ viewport: { width: size, height: size } });
  await p.setContent(`<html><body style="margin:0">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`);
  await p.screenshot({ path: resolve(dir, `icon-${size}.png`), omitBackground: true });
  await p.close();
}
await browser.close();
