// Regenerates docs/screenshots/*.png against a real server (same harness
// as the E2E test). Run with `npm run screenshots`; `npm run screenshots -- readiness`
// regenerates only console-readiness.png.
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { startServer, startSmsGateway, launchBrowser, seedRegion, api, login, provisionUnit, sendTelemetry, DISPATCHER, OPERATOR, REGION, PATIENT, VOLUNTEER_AT } from './harness.mjs';

const only = process.argv[2];

const OUT = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');
mkdirSync(OUT, { recursive: true });
const shot = (p, name) => p.screenshot({ path: join(OUT, `${name}.png`) }).then(() => console.log(`wrote docs/screenshots/${name}.png`));

const sms = await startSmsGateway();
const server = await startServer({ sms });
let browser;
try {
  const { adminToken } = await seedRegion(server.url);
  const extra = [['Central Station, hall B', 55.6727, 12.5646, 'Mo-Su 05:00-01:00'], ['Library AED', 55.6808, 12.5755, 'Mo-Fr 10:00-18:00'], ['Pharmacy Strøget', 55.6780, 12.5760, '24/7'], ['Tivoli main gate', 55.6738, 12.5681, 'Mo-Su 11:00-23:00']];
  for (const [name, lat, lon, hours] of extra) {
    await api(server.url, 'POST', `/api/v1/aeds?region=${REGION}`, { token: adminToken, body: { name, location: { lat, lon }, access: 'public', status: 'active', opening_hours: hours, location_desc: [['en', 'By the entrance']] } });
  }
  browser = await launchBrowser();
  if (only !== 'readiness') {
    const vctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, geolocation: VOLUNTEER_AT, permissions: ['geolocation', 'notifications'], locale: 'en-GB' });
    const dctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-GB' });
    const vol = await vctx.newPage(); const disp = await dctx.newPage();
    vol.setDefaultTimeout(30000); disp.setDefaultTimeout(30000);

    // Volunteer signs up and becomes ready.
    await vol.goto(`${server.url}/app/?region=${REGION}`);
    await shot(vol, 'volunteer-welcome');
    await vol.getByRole('button', { name: 'Sign up' }).click();
    await vol.getByLabel('Full name').fill('Astrid Jensen');
    await vol.getByLabel('Mobile number').fill('+4520304050');
    await vol.getByLabel('Password', { exact: true }).fill('correct-horse-1');
    await vol.getByLabel('Date of birth').fill('1990-04-02');
    await vol.getByLabel('Date of your latest CPR course').fill('2026-03-01');
    await vol.getByLabel(/I agree that firstlink/).check();
    await vol.getByRole('button', { name: 'Sign up' }).click();
    const msg = await sms.waitFor((m) => /\b\d{6}\b/.test(m.text || ''));
    await vol.getByLabel('Code').fill(/\b(\d{6})\b/.exec(msg.text)[1]);
    await vol.getByRole('button', { name: 'Confirm' }).click();
    await vol.locator('#available').check();
    await vol.locator('[data-check="position"][data-ok="true"]').waitFor();
    await shot(vol, 'volunteer-readiness');

    // A second volunteer via the API, so the dispatcher sees two states.
    const s2 = await api(server.url, 'POST', '/api/v1/volunteers/signup', { body: { region: REGION, name: 'Bo Nielsen', phone: '+4520304060', password: 'correct-horse-2', language: 'da', birth_date: '1985-01-01', training: { kind: 'BLS', date: '2026-01-10' }, consent: true } });
    const m2 = await sms.waitFor((m) => m.to === '+4520304060');
    const tok2 = (await api(server.url, 'POST', '/api/v1/volunteers/verify', { body: { volunteer_id: s2.volunteer_id, code: /\b(\d{6})\b/.exec(m2.text)[1] } })).token;
    await api(server.url, 'PUT', '/api/v1/me/availability', { token: tok2, body: { available: true, quiet_hours: null } });
    await api(server.url, 'POST', '/api/v1/me/position', { token: tok2, body: { lat: 55.6812, lon: 12.5668, accuracy_m: 15 } });

    // Dispatcher starts a test alert.
    await disp.goto(`${server.url}/console/`);
    await disp.getByLabel('Username').fill(DISPATCHER.username);
    await disp.getByLabel('Password').fill(DISPATCHER.password);
    await disp.getByRole('button', { name: 'Sign in' }).click();
    await disp.getByRole('button', { name: '+ Test alert' }).click();
    const dlg = disp.getByRole('dialog', { name: 'Start a test alert' });
    await dlg.getByLabel('Latitude').fill(String(PATIENT.lat));
    await dlg.getByLabel('Longitude').fill(String(PATIENT.lon));
    await dlg.getByLabel('Address').fill('Rådhuspladsen 1, København');
    await dlg.getByLabel('Notes for responders').fill('Man collapsed by the fountain');
    await shot(disp, 'console-test-alert');
    await dlg.getByRole('button', { name: 'Alert volunteers' }).click();
    await disp.waitForURL(/#\/incidents\//);

    await vol.getByRole('heading', { name: 'Cardiac arrest nearby' }).waitFor();
    await shot(vol, 'volunteer-alert');
    await vol.getByRole('button', { name: 'I can go' }).click();
    await vol.locator('#aed-code').waitFor();
    await disp.getByLabel('Message to responders').fill('Entrance from the courtyard');
    await disp.getByRole('button', { name: 'Send message' }).click();
    await vol.locator('#messages li', { hasText: 'courtyard' }).waitFor();
    await vol.waitForTimeout(500);
    await shot(vol, 'volunteer-task');
    await vol.screenshot({ path: join(OUT, 'volunteer-task-full.png'), fullPage: true });
    console.log('wrote docs/screenshots/volunteer-task-full.png');

    await disp.locator('tr[data-state="accepted"], tr[data-state="en_route"]').waitFor();
    await disp.waitForTimeout(500);
    await shot(disp, 'console-incident');

    // CPR helper.
    await vol.getByRole('button', { name: '♥ CPR helper' }).click();
    await vol.getByRole('button', { name: 'Start' }).click();
    await vol.waitForTimeout(2000);
    await shot(vol, 'volunteer-cpr');
    await vol.getByRole('button', { name: 'Close' }).click();

    await disp.getByRole('button', { name: 'End mission' }).click();
    await disp.getByRole('dialog', { name: 'End mission' }).getByRole('button', { name: 'End mission' }).click();
    await vol.getByRole('heading', { name: 'The mission has ended' }).waitFor();
    await shot(vol, 'volunteer-after');

    await disp.goto(`${server.url}/console/#/aeds`);
    await disp.locator('.big-map .fl-dot').first().waitFor();
    await disp.waitForTimeout(300);
    await shot(disp, 'console-aeds');

    // Public AED map. The endpoint is planned (AED registry issue); when the
    // server does not have it yet, serve the planned GeoJSON shape from the
    // registry so the screenshot shows the page as it will look.
    const pub = await dctx.newPage();
    const real = await pub.request.get(`${server.url}/api/v1/public/aeds`);
    if (real.status() === 404) {
      await pub.goto(`${server.url}/map/`);
      await pub.locator('[data-state="unavailable"]').waitFor();
      await shot(pub, 'aed-map-unavailable');
      const aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: adminToken });
      const fc = { type: 'FeatureCollection', features: aeds.map((a) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [a.location.lon, a.location.lat] }, properties: { name: a.name, open_now: a.open_now, next_change: null, access: a.access, indoor: a.indoor, description: a.location_desc?.[0]?.[1] ?? null } })) };
      await pub.route('**/api/v1/public/aeds*', (r) => r.fulfill({ status: 200, contentType: 'application/geo+json', body: JSON.stringify(fc) }));
    }
    await pub.goto(`${server.url}/map/`);
    await pub.locator('.aed-item').first().waitFor();
    await shot(pub, 'aed-map');

    await brandShots(adminToken, vol);
  }

  await readinessShots(adminToken);
} finally {
  await browser?.close();
  await server.stop();
  await sms.close();
}

/** The region's own brand, news and training feeds and a CPR refresher reminder (console and app). */
async function brandShots(adminToken, vol) {
  const day = (n) => new Date(Date.now() - n * 86400000).toUTCString();
  const rss = `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Hjerteløber nyt</title>
<item><title>12 nye hjertestartere på Christianshavn</title><link>https://example.org/nyt/1</link><description>&lt;p&gt;Borgerforeningen har hængt 12 nye hjertestartere op, alle åbne døgnet rundt.&lt;/p&gt;</description><pubDate>${day(1)}</pubDate></item>
<item><title>Tak for jeres indsats i oktober</title><link>https://example.org/nyt/2</link><description>Hjerteløbere nåede frem før ambulancen ved 41 hjertestop.</description><pubDate>${day(9)}</pubDate></item>
</channel></rss>`;
  const atom = `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Kurser</title><id>urn:k</id><updated>${new Date().toISOString()}</updated>
<entry><title>Genopfriskning af hjerte-lunge-redning, 2 timer</title><id>urn:k1</id><link href="https://example.org/kurser/1"/><updated>${new Date(Date.now() - 3 * 86400000).toISOString()}</updated><summary>Gratis for hjerteløbere. Tirsdag kl. 17–19 på brandstationen.</summary></entry></feed>`;
  const feedServer = createServer((req, res) => {
    const body = req.url === '/rss.xml' ? rss : req.url === '/atom.xml' ? atom : null;
    if (!body) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'application/xml' }); res.end(body);
  });
  await new Promise((r) => feedServer.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${feedServer.address().port}`;
  try {
    await api(server.url, 'PUT', `/api/v1/regions/${REGION}/branding`, { token: adminToken, body: { display_name: 'Hjerteløber', primary_color: '#c8102e', accent_color: '#8b0000' } });
    const logo = readFileSync(resolve(import.meta.dirname, '..', 'public', 'app', 'icon-192.png'));
    await fetch(`${server.url}/api/v1/regions/${REGION}/branding/logo`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'image/png' }, body: logo });
    await api(server.url, 'PUT', `/api/v1/regions/${REGION}/feeds`, { token: adminToken, body: { feeds: [{ url: `${base}/rss.xml`, kind: 'news' }, { url: `${base}/atom.xml`, kind: 'training', label: 'Kurser i din region' }] } });
    await api(server.url, 'PUT', `/api/v1/regions/${REGION}/refresher`, { token: adminToken, body: { interval_months: 12 } });
    // The volunteer's course was almost a year ago: the refresher is due within 30 days.
    const token = await vol.evaluate(() => localStorage.getItem('firstlink.app.token'));
    const d = new Date(); d.setUTCMonth(d.getUTCMonth() - 12); d.setUTCDate(d.getUTCDate() + 12);
    await api(server.url, 'PATCH', '/api/v1/me', { token, body: { training: { kind: 'bls', date: d.toISOString().slice(0, 10) } } });
    await vol.goto(`${server.url}/app/?lang=da`);
    await vol.locator('#refresher .refresher').waitFor();
    await vol.locator('#news .news-item').first().waitFor();
    await vol.waitForTimeout(300);
    await vol.screenshot({ path: join(OUT, 'volunteer-news.png'), fullPage: true });
    console.log('wrote docs/screenshots/volunteer-news.png');
    await vol.evaluate(() => localStorage.setItem('firstlink.app.lang', 'en'));

    const octx = await browser.newContext({ viewport: { width: 1440, height: 1500 }, locale: 'en-GB' });
    const op = await octx.newPage();
    op.setDefaultTimeout(30000);
    await op.goto(`${server.url}/console/#/region`);
    await op.getByLabel('Username').fill(OPERATOR.username);
    await op.getByLabel('Password').fill(OPERATOR.password);
    await op.getByRole('button', { name: 'Sign in' }).click();
    await op.getByRole('img', { name: 'Current logo' }).waitFor();
    await op.locator('[data-section="feeds"] .feed-row').first().waitFor();
    await op.locator('#region-brand .region-name').waitFor();
    await op.waitForTimeout(300);
    await shot(op, 'console-region');
    await octx.close();
  } finally {
    await new Promise((r) => feedServer.close(r));
  }
}

/** AED readiness: three monitored AEDs with a day of telemetry (one faulty, one too hot), one unmonitored. */
async function readinessShots(adminToken) {
  const opToken = await login(server.url, OPERATOR);
  const aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: adminToken });
  const byName = (n) => aeds.find((a) => a.name === n)?.id;
  // A day of readings every 5 minutes (the units' interval), so each 15-minute bucket has a min–max band.
  const now = Math.floor(Date.now() / 1000);
  const day = (i) => Math.sin(((now - i * 300) / 86400) * 2 * Math.PI);
  const noise = (i) => Math.sin(i * 12.9898) * 0.8;
  const r1 = (v) => Math.round(v * 10) / 10;
  const fleet = [
    ['Town Hall AED', (i) => ({ light: i === 0 ? 'fault' : 'ok', temp_c: r1(17 + 4 * day(i) + noise(i)), batt_pct: 86 })],
    ['Central Station, hall B', (i) => ({ light: 'ok', temp_c: r1(i < 18 ? 51 + (18 - i) * 0.2 + noise(i) : 30 + 12 * day(i) + noise(i)), batt_pct: 64 })],
    ['Library AED', (i) => ({ light: 'ok', temp_c: r1(21 + day(i) + noise(i) / 2), batt_pct: 93 })],
  ];
  for (const [name, reading] of fleet) {
    const aedId = byName(name);
    if (!aedId) continue;
    const unit = await provisionUnit(server.url, opToken, { aedId, hardware: 'Cabinet sensor CS-2' });
    for (let i = 288; i >= 0; i -= 1) await sendTelemetry(server.url, unit, { ts: now - i * 300, seq: 289 - i, ...reading(i) });
  }
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1500 }, locale: 'en-GB' });
  const p = await ctx.newPage();
  p.setDefaultTimeout(30000);
  await p.goto(`${server.url}/console/#/readiness/${byName('Central Station, hall B')}`);
  await p.getByLabel('Username').fill(OPERATOR.username);
  await p.getByLabel('Password').fill(OPERATOR.password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.locator('.rd-ticket').first().waitFor();
  await p.locator('#rd-detail svg.temp-chart').waitFor();
  await p.getByLabel('Period').selectOption('24');
  await p.waitForTimeout(800);
  await shot(p, 'console-readiness');
  if (process.env.CHART_SHOT) await p.locator('#rd-detail svg.temp-chart').screenshot({ path: process.env.CHART_SHOT });
  await ctx.close();
}
