// End-to-end: an operator brands the region, sets its news and training feeds
// and the CPR refresher interval in the console, edits an AED without losing
// what the form does not show; a volunteer whose training is old sees the
// brand, the refresher reminder and the feeds' items (text only) in the app.
// Real server, real headless Chromium; feeds from a mock HTTP server on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { startServer, startSmsGateway, launchBrowser, seedRegion, api, login, OPERATOR, TECHNICIAN, REGION, VOLUNTEER_AT } from './harness.mjs';

const T = 30000;
const LOGO = resolve(import.meta.dirname, '..', 'public', 'app', 'icon-192.png');

const RSS = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test Town news</title><link>https://town.example/</link>
<item><title>Ten new AEDs in the harbour</title><link>https://town.example/news/1</link>
<description><![CDATA[<p>Ten <b>new</b> AEDs <img src=x onerror="window.__pwned=1"> were put up.</p><script>window.__pwned=2</script>]]></description>
<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>A link that is not a web page</title><link>javascript:window.__pwned=3</link><description>Nothing to click.</description><pubDate>Sun, 01 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>`;
const ATOM = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Courses</title><id>urn:x</id><updated>2026-11-03T10:00:00Z</updated>
<entry><title>CPR refresher, 12 November</title><id>urn:1</id><link href="/courses/12-nov"/><updated>2026-11-03T10:00:00Z</updated>
<summary type="html">&lt;em&gt;Two hours&lt;/em&gt;, free for volunteers</summary></entry></feed>`;

async function startFeeds() {
  const server = createServer((req, res) => {
    const [type, body] = req.url === '/rss.xml' ? ['application/rss+xml', RSS]
      : req.url === '/atom.xml' ? ['application/atom+xml', ATOM]
        : req.url === '/broken.xml' ? ['application/xml', '<rss><channel><item><title>half'] : [null, null];
    if (!body) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': type }); res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('firstlink web: region brand, feeds, refresher, AED edits', { timeout: 240000 }, () => {
  let server; let sms; let feeds; let browser; let opCtx; let volCtx; let op; let vol; let adminToken; let volToken;
  const errors = [];

  before(async () => {
    sms = await startSmsGateway();
    feeds = await startFeeds();
    server = await startServer({ sms });
    ({ adminToken } = await seedRegion(server.url));
    // A volunteer whose CPR course was 13 months ago.
    const d = new Date(); d.setUTCMonth(d.getUTCMonth() - 13);
    const s = await api(server.url, 'POST', '/api/v1/volunteers/signup', { body: { region: REGION, name: 'Karen Holm', phone: '+4520304070', password: 'correct-horse-3', language: 'en', birth_date: '1980-05-05', training: { kind: 'bls', date: d.toISOString().slice(0, 10) }, consent: true } });
    const m = await sms.waitFor((x) => x.to === '+4520304070');
    volToken = (await api(server.url, 'POST', '/api/v1/volunteers/verify', { body: { volunteer_id: s.volunteer_id, code: /\b(\d{6})\b/.exec(m.text)[1] } })).token;
    browser = await launchBrowser();
    opCtx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB' });
    volCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, geolocation: VOLUNTEER_AT, permissions: ['geolocation'], locale: 'en-GB' });
    op = await opCtx.newPage(); vol = await volCtx.newPage();
    for (const [n, p] of [['operator', op], ['volunteer', vol]]) { p.on('pageerror', (e) => errors.push(`${n}: ${e.message}`)); p.setDefaultTimeout(T); }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sms?.close();
    await feeds?.close();
  });

  it('an operator brands the region, with contrast checked next to the field', async () => {
    await op.goto(`${server.url}/console/`);
    await op.getByLabel('Username').fill(OPERATOR.username);
    await op.getByLabel('Password').fill(OPERATOR.password);
    await op.getByRole('button', { name: 'Sign in' }).click();
    await op.getByRole('link', { name: 'Region' }).click();
    await op.getByRole('heading', { name: /^Region settings/ }).waitFor();
    const brand = op.locator('[data-section="branding"]');
    await brand.getByLabel('Display name').fill('Hjerteløber');
    // Too light: refused in the browser, with the reason next to the field.
    await brand.getByLabel('Primary colour (buttons, white text on it)', { exact: true }).fill('#ffd700');
    await brand.getByRole('button', { name: 'Save brand' }).click();
    assert.match(await brand.locator('[data-field="primary_color"] .field-error').textContent(), /contrast/);
    // The server says the same (its code is low_contrast), next to the field too.
    const r = await fetch(`${server.url}/api/v1/regions/${REGION}/branding`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ accent_color: '#eeeeee' }) });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.code, 'low_contrast');
    await brand.getByLabel('Primary colour (buttons, white text on it)', { exact: true }).fill('#c8102e');
    await brand.getByLabel('Accent colour (name and links, on white)', { exact: true }).fill('#8b0000');
    await brand.getByRole('button', { name: 'Save brand' }).click();
    await brand.locator('[data-status="brand"]', { hasText: 'Saved.' }).waitFor();
    // Logo: an SVG is refused by the form; a PNG is uploaded.
    await brand.getByLabel(/Logo image/).setInputFiles({ name: 'logo.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>') });
    await brand.getByRole('button', { name: 'Upload logo' }).click();
    assert.match(await brand.locator('[data-field="logo"] .field-error').textContent(), /PNG or WebP/);
    await brand.getByLabel(/Logo image/).setInputFiles(LOGO);
    await brand.getByRole('button', { name: 'Upload logo' }).click();
    await brand.getByRole('img', { name: 'Current logo' }).waitFor();
    // The console header wears the region's brand.
    await op.locator('#region-brand .region-name', { hasText: 'Hjerteløber' }).waitFor();
    await op.locator('#region-brand img.region-logo').waitFor();
  });

  it('an operator sets the feeds (URLs checked) and the refresher interval', async () => {
    const sec = op.locator('[data-section="feeds"]');
    await sec.getByRole('button', { name: '+ Add feed' }).click();
    await sec.getByLabel('Feed URL').first().fill('ftp://town.example/feed');
    await sec.getByRole('button', { name: 'Save feeds' }).click();
    assert.match(await sec.locator('[data-field="feeds[0].url"] .field-error').textContent(), /http/);
    await sec.getByLabel('Feed URL').first().fill(`${feeds.base}/rss.xml`);
    await sec.getByRole('button', { name: '+ Add feed' }).click();
    await sec.getByLabel('Feed URL').nth(1).fill(`${feeds.base}/atom.xml`);
    await sec.getByLabel('Kind').nth(1).selectOption('training');
    await sec.getByLabel('Label (optional)').nth(1).fill('Courses near you');
    await sec.getByRole('button', { name: '+ Add feed' }).click();
    await sec.getByLabel('Feed URL').nth(2).fill(`${feeds.base}/broken.xml`);
    await sec.getByRole('button', { name: 'Save feeds' }).click();
    await sec.locator('[data-status="feeds"]', { hasText: 'Saved.' }).waitFor();
    const saved = await api(server.url, 'GET', `/api/v1/regions/${REGION}/feeds`, { token: adminToken });
    assert.deepEqual(saved.feeds.map((f) => [f.kind, f.label ?? null]), [['news', null], ['training', 'Courses near you'], ['news', null]]);

    const ref = op.locator('[data-section="refresher"]');
    await ref.getByLabel('Months a CPR training counts').fill('0');
    await ref.getByRole('button', { name: 'Save' }).click();
    assert.match(await ref.locator('[data-field="interval_months"] .field-error').textContent(), /1 to 120/);
    await ref.getByLabel('Months a CPR training counts').fill('12');
    await ref.getByRole('button', { name: 'Save' }).click();
    await ref.locator('[data-status="refresher"]', { hasText: 'Saved.' }).waitFor();
  });

  it('the volunteer app wears the brand, reminds of the refresher and shows the feeds as text', async () => {
    await vol.goto(`${server.url}/app/`);
    await vol.evaluate((tok) => localStorage.setItem('firstlink.app.token', tok), volToken);
    await vol.reload();
    await vol.locator('#readiness').waitFor();
    await vol.locator('.app-head .brand', { hasText: 'Hjerteløber' }).waitFor();
    await vol.locator('.app-head img.brand-logo').waitFor();
    assert.equal(await vol.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()), '#c8102e');
    assert.equal(await vol.title(), 'Hjerteløber');
    // Refresher: the training is 13 months old, the region says 12.
    const card = vol.locator('#refresher .refresher[data-state="overdue"]');
    await card.waitFor();
    assert.match(await card.textContent(), /was due for a refresher/);
    // News: newest first across feeds, text only, links in a new tab.
    const items = vol.locator('#news .news-item');
    await items.first().waitFor();
    assert.deepEqual(await items.locator('h3').allTextContents(), ['CPR refresher, 12 November (opens in a new tab)', 'Ten new AEDs in the harbour (opens in a new tab)', 'A link that is not a web page']);
    assert.equal(await items.nth(0).getAttribute('data-kind'), 'training');
    assert.match(await items.nth(0).textContent(), /Courses near you/);
    const link = items.nth(1).getByRole('link', { name: /Ten new AEDs/ });
    assert.equal(await link.getAttribute('href'), 'https://town.example/news/1');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /noopener/);
    assert.equal(await items.nth(0).getByRole('link').getAttribute('href'), `${feeds.base}/courses/12-nov`);
    assert.equal(await items.nth(2).locator('a').count(), 0, 'a javascript: link is never a link');
    assert.match(await items.nth(1).textContent(), /Ten new AEDs were put up\./);
    assert.equal(await vol.locator('#news img, #news script, #news b, #news em').count(), 0, 'no feed markup in the page');
    assert.equal(await vol.evaluate(() => window.__pwned), undefined);
    await vol.locator('#news .news-failed').waitFor();
    // The volunteer did a course: the reminder goes away.
    const today = new Date().toISOString().slice(0, 10);
    await card.getByLabel('Date of your latest CPR course').fill(today);
    await card.getByRole('button', { name: 'Save new training date' }).click();
    await vol.locator('#refresher [role="status"]', { hasText: 'training date is updated' }).waitFor();
    assert.equal((await api(server.url, 'GET', '/api/v1/me/refresher', { token: volToken })).state, 'ok');
    // The same, in Swedish, on the welcome screen after signing out the brand stays.
    await vol.goto(`${server.url}/app/?lang=sv`);
    await vol.locator('#news h2', { hasText: 'Nyheter och utbildning' }).waitFor();
    await vol.getByRole('button', { name: 'Logga ut' }).click();
    await vol.getByRole('heading', { name: 'Hjerteløber' }).waitFor();
    await vol.locator('.hero img.hero-logo').waitFor();
    await vol.evaluate(() => localStorage.setItem('firstlink.app.lang', 'en'));
  });

  it('editing an AED in the console keeps what the form does not show', async () => {
    const [aed] = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: adminToken });
    // The owner's contact is not on the form; the Danish description is not the one shown.
    await api(server.url, 'POST', `/api/v1/aeds?region=${REGION}`, { token: adminToken, body: { id: aed.id, name: aed.name, location: aed.location, access: aed.access, status: aed.status, owner_contact: 'owner@town.example' } });
    await op.getByRole('link', { name: 'AEDs' }).click();
    await op.getByRole('button', { name: `Edit ${aed.name}` }).click();
    const dlg = op.getByRole('dialog', { name: `Edit ${aed.name}` });
    assert.equal(await dlg.getByLabel('Cabinet access code').inputValue(), '4711');
    await dlg.getByLabel('Name').fill('Town Hall AED (north door)');
    await dlg.getByLabel('Level / floor').fill('');
    await dlg.getByRole('button', { name: 'Save' }).click();
    await dlg.waitFor({ state: 'detached' });
    await op.getByRole('cell', { name: 'Town Hall AED (north door)', exact: true }).waitFor();
    const [after] = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: adminToken });
    assert.equal(after.name, 'Town Hall AED (north door)');
    assert.equal(after.owner_contact, 'owner@town.example');
    assert.equal(after.access_code, '4711');
    assert.equal(after.level, null, 'an emptied field is cleared');
    assert.deepEqual(after.location_desc.map(([l]) => l).sort(), ['da', 'en']);
    assert.equal(after.locked, true);
  });

  it('a technician reads the region and its AEDs, read only', async () => {
    const tech = await login(server.url, TECHNICIAN);
    const regions = await api(server.url, 'GET', '/api/v1/regions', { token: tech });
    assert.deepEqual(regions.map((r) => r.slug), [REGION]);
    const aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: tech });
    assert.equal(aeds.length, 1);
    assert.equal(aeds[0].owner_contact, null);
    const r = await fetch(`${server.url}/api/v1/aeds?region=${REGION}`, { method: 'POST', headers: { authorization: `Bearer ${tech}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', location: { lat: 55.6, lon: 12.5 }, access: 'public', status: 'active' }) });
    assert.equal(r.status, 403);
    assert.deepEqual(errors, []);
  });
});

