// Draws the app's PNG icons from web/icon.svg with the Chromium the browser
// tests use: `node scripts/icons.mjs` (from web/). The PNGs are committed;
// run this again after changing the drawing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const svg = fs.readFileSync(path.join(WEB, 'icon.svg'), 'utf8');
// Maskable: the background fills the square (no rounded corners); the
// platform cuts its own shape out of it.
const maskable = svg.replace('rx="112"', 'rx="0"');
const out = path.join(WEB, 'public/icons');
fs.mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
const page = await browser.newPage();
for (const [name, drawing, size] of [
  ['icon-192.png', svg, 192],
  ['icon-512.png', svg, 512],
  ['maskable-512.png', maskable, 512],
  ['badge-96.png', svg, 96],
]) {
  await page.setViewportSize({ width: size, height: size });
  await page.setContent(`<html><body style="margin:0;background:transparent">${drawing.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`);
  await page.screenshot({ path: path.join(out, name), omitBackground: true });
}
await browser.close();
console.log(`icons written to ${out}`);
