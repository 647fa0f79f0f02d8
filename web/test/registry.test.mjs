// End-to-end: the operator's registry tools in the console's AED section,
// against the real server. Before the server starts, two GeoJSON imports
// (`firstlink aeds import`, the only way to get sync flags) leave a likely
// duplicate, a moved AED and AEDs whose pads / battery expire; through the API
// an operator adds a record pending review and a volunteer signs up, verifies
// (mock SMS gateway), turns availability on and reports a position next to
// the Town Hall AED. The console must show the coverage layer with a green
// cell there, the registry health (expiring consumables) and the review queue,
// and approve / approve-with-move / merge must work. Dispatchers see neither.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, startSmsGateway, launchBrowser, seedRegion, login, api, ADMIN, OPERATOR, DISPATCHER, REGION, AED_AT } from './harness.mjs';

const T = 30000;
const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
const HARBOUR = { lat: 55.6840, lon: 12.5900 };
const LIBRARY = { lat: 55.6750, lon: 12.5550 };
const LIBRARY_NEW = { lat: 55.6777, lon: 12.5550 }; // ~300 m north
const VOL = { lat: 55.6786, lon: 12.5701 };

function geojson(library) {
  const f = (id, p, props) => ({ type: 'Feature', id, geometry: { type: 'Point', coordinates: [p.lon, p.lat] }, properties: { emergency: 'defibrillator', access: 'yes', opening_hours: '24/7', ...props } });
  return JSON.stringify({
    type: 'FeatureCollection',
    features: [
      f('h1', HARBOUR, { name: 'Harbour AED', pad_expiry: day(20) }),
      f('h2', { lat: HARBOUR.lat + 0.00002, lon: HARBOUR.lon }, { name: 'Harbour AED (entrance)' }),
      f('l1', library, { name: 'Library AED', battery_expiry: day(-5) }),
    ],
  });
}

describe('firstlink console: coverage, registry health and review queue', { timeout: 240000 }, () => {
  let server; let sms; let browser; let opToken;
  const errors = [];

  before(async () => {
    sms = await startSmsGateway();
    server = await startServer({
      sms,
      prepare({ dataDir, run }) {
        // A second region without AEDs: coverage needs the map's bounds there.
        run(['admin', '--data-dir', dataDir, 'create-region', '--slug', 'emptytown', '--name', 'Empty Town', '--timezone', 'Europe/Copenhagen', '--country', 'DK']);
        for (const [n, lib] of [['1', LIBRARY], ['2', LIBRARY_NEW]]) {
          const file = join(dataDir, `import-${n}.geojson`);
          writeFileSync(file, geojson(lib));
          run(['aeds', '--data-dir', dataDir, 'import', '--region', REGION, '--source', 'osm', '--format', 'geojson', file]);
        }
      },
    });
    await seedRegion(server.url);
    opToken = await login(server.url, OPERATOR);
    await api(server.url, 'POST', `/api/v1/aeds?region=${REGION}`, {
      token: opToken, body: { name: 'Kiosk AED', location: { lat: 55.6800, lon: 12.5650 }, access: 'public', status: 'pending_review', opening_hours: '24/7' },
    });
    // A volunteer, available, next to the Town Hall AED.
    const { volunteer_id: vid } = await api(server.url, 'POST', '/api/v1/volunteers/signup', {
      body: { region: REGION, name: 'Bo Hansen', phone: '+4521222324', password: 'correct-horse-2', language: 'en', birth_date: '1985-06-01', consent: true, training: { kind: 'CPR', date: day(-100) } },
    });
    const msg = await sms.waitFor((m) => m.to === '+4521222324' && /\b\d{6}\b/.test(m.text || ''));
    const { token: vt } = await api(server.url, 'POST', '/api/v1/volunteers/verify', { body: { volunteer_id: vid, code: /\b(\d{6})\b/.exec(msg.text)[1] } });
    await api(server.url, 'PUT', '/api/v1/me/availability', { token: vt, body: { available: true, quiet_hours: null } });
    await api(server.url, 'POST', '/api/v1/me/position', { token: vt, body: { lat: VOL.lat, lon: VOL.lon, accuracy_m: 10 } });
    // The server's view, for the record: the imports left a duplicate and a moved AED.
    const queue = await api(server.url, 'GET', `/api/v1/aeds/review?region=${REGION}`, { token: opToken });
    assert.deepEqual(queue.map((q) => [q.name, q.flags.map((f) => f.kind)]).sort(),
      [['Harbour AED (entrance)', ['duplicate']], ['Kiosk AED', []], ['Library AED', ['moved']]]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sms?.close();
  });

  async function signIn(who, path = '/console/#/aeds') {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB' });
    const p = await ctx.newPage();
    p.on('pageerror', (e) => errors.push(`${who.username}: ${e.message}`));
    p.setDefaultTimeout(T);
    await p.goto(`${server.url}${path}`);
    await p.getByLabel('Username').fill(who.username);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'AED registry' }).waitFor();
    return p;
  }

  it('operator turns on coverage at this hour: coloured cells, legend, note, a green cell at the volunteer and the AED', async () => {
    const p = await signIn(OPERATOR);
    const toggle = p.getByLabel('Coverage at this hour');
    await toggle.check();
    await p.locator('.cov-status[data-cells]').waitFor();
    const cells = p.locator('path.cov-cell');
    const n = Number(await p.locator('.cov-status').getAttribute('data-cells'));
    assert.ok(n > 4, `cells: ${n}`);
    assert.equal(await cells.count(), n);
    assert.match(await p.getByTestId('coverage-note').textContent(), /Counts now \(\d\d:\d\d(:\d\d)?\), within 1300 m \(volunteers\) \/ 1500 m \(AEDs\)/);
    for (const k of ['none', 'partial', 'both']) await p.locator(`.cov-legend [data-coverage="${k}"]`).waitFor();
    // The cell around the volunteer and the Town Hall AED is green.
    const near = await cells.evaluateAll((els, at) => {
      const d = (e) => (Number(e.dataset.lat) - at.lat) ** 2 + ((Number(e.dataset.lon) - at.lon) * 0.56) ** 2;
      const best = els.reduce((a, b) => (d(b) < d(a) ? b : a));
      best.setAttribute('data-test-near', '');
      // A corner of the cell away from the AED marker, for the hover.
      const r = best.getBoundingClientRect();
      const corner = { x: at.lon > Number(best.dataset.lon) ? 3 : r.width - 3, y: at.lat > Number(best.dataset.lat) ? r.height - 3 : 3 };
      return { ...best.dataset, fill: best.getAttribute('fill'), corner };
    }, AED_AT);
    assert.equal(near.coverage, 'both', JSON.stringify(near));
    assert.ok(Number(near.volunteers) >= 1 && Number(near.aeds) >= 1, JSON.stringify(near));
    assert.equal(near.fill, '#146c2e');
    // Its tooltip has the counts (hover a corner, clear of the AED marker).
    await p.locator('path[data-test-near]').hover({ position: near.corner });
    await p.locator('.leaflet-tooltip', { hasText: /1 volunteer · \d+ usable AEDs?/ }).waitFor();
    // Off: the layer goes away.
    await toggle.uncheck();
    await p.locator('path.cov-cell').first().waitFor({ state: 'detached' });
    await p.context().close();
  });

  it('operator sees the registry health and works through the review queue', async () => {
    const p = await signIn(OPERATOR);
    const health = p.locator('[data-section="health"]');
    await health.getByRole('heading', { name: 'Registry health' }).waitFor();
    await health.locator('[data-health="expiring"]').waitFor();
    assert.equal(await health.locator('[data-health="expiring"] .pill').textContent(), '1');
    assert.match(await health.locator('[data-health="expiring"]').textContent(), /pads or battery expiring within 60 days/);
    assert.equal(await health.locator('[data-health="expired"] .pill').textContent(), '1');
    // The dates behind the counts, soonest first: the expired battery, then the pads.
    const rows = health.locator('[data-testid="expiring-list"] tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).textContent(), /Library AED.*expired/);
    assert.match(await rows.nth(1).textContent(), /Harbour AED/);
    assert.equal(await health.locator('[data-health="flagged"]').textContent(), '2');
    assert.match(await health.locator('[data-health="confirmed"]').textContent(), /0 %/);
    assert.match(await health.locator('[data-health="records"]').textContent(), /1 pending review/);

    const review = p.locator('[data-section="review"]');
    const item = (name) => review.locator('.review-item', { has: p.getByText(name, { exact: true }) });
    await item('Library AED').waitFor();
    assert.equal(await review.locator('.review-item').count(), 3);
    // Reasons.
    assert.match(await item('Library AED').locator('[data-flag="moved"]').textContent(), /Moved: a sync \(osm\) reports it 30\d m away, at 55\.67770, 12\.55500/);
    assert.match(await item('Harbour AED (entrance)').locator('[data-flag="duplicate"]').textContent(), /Duplicate of: Harbour AED \(\d m away\)/);
    await item('Kiosk AED').locator('[data-flag="pending"]').waitFor();
    assert.equal(await item('Kiosk AED').getByRole('button', { name: 'Approve with the new position' }).count(), 0);

    // Approve the moved AED at its new position.
    await item('Library AED').getByRole('button', { name: 'Approve with the new position' }).click();
    await p.getByTestId('review-msg').filter({ hasText: 'Library AED approved and moved to 55.67770, 12.55500.' }).waitFor();
    await item('Library AED').waitFor({ state: 'detached' });
    let aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: opToken });
    const lib = aeds.find((a) => a.name === 'Library AED');
    assert.ok(Math.abs(lib.location.lat - LIBRARY_NEW.lat) < 1e-6, JSON.stringify(lib.location));

    // Merge the duplicate into the record that stays (pre-selected).
    await item('Harbour AED (entrance)').getByRole('button', { name: 'Merge into…' }).click();
    const dlg = p.getByRole('dialog', { name: 'Merge Harbour AED (entrance)' });
    const sel = dlg.getByLabel('Merge into');
    assert.match(await sel.locator('option:checked').textContent(), /^Harbour AED \(likely duplicate\)$/);
    await dlg.getByRole('button', { name: 'Merge', exact: true }).click();
    await p.getByTestId('review-msg').filter({ hasText: 'Harbour AED (entrance) merged into Harbour AED.' }).waitFor();

    // Approve the pending registration.
    await item('Kiosk AED').getByRole('button', { name: 'Approve', exact: true }).click();
    await p.getByTestId('review-empty').waitFor();
    assert.equal(await review.locator('.review-item').count(), 0);
    await health.locator('[data-health="flagged"]', { hasText: /^0$/ }).waitFor();
    aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: opToken });
    const st = Object.fromEntries(aeds.map((a) => [a.name, a.status]));
    assert.equal(st['Harbour AED (entrance)'], 'removed');
    assert.equal(st['Kiosk AED'], 'active');
    assert.equal(st['Library AED'], 'active');
    await p.context().close();
  });

  it('in a region without AEDs, coverage is asked for the map\'s bounds', async () => {
    const p = await signIn(ADMIN);
    const asked = [];
    p.on('request', (r) => { if (r.url().includes('/api/v1/coverage')) asked.push(new URL(r.url()).search); });
    await p.locator('#region').selectOption('emptytown');
    await p.getByText('0 of 0 AEDs shown').waitFor();
    await p.getByLabel('Coverage at this hour').check();
    await p.locator('.cov-status[data-cells]').waitFor();
    // First the region's default frame (400, field bbox), then the map's bounds.
    assert.equal(asked.length, 2, asked.join(' '));
    assert.doesNotMatch(asked[0], /bbox=/);
    assert.match(asked[1], /^\?region=emptytown&cell_m=\d+&bbox=[\d.-]+,[\d.-]+,[\d.-]+,[\d.-]+$/);
    assert.ok(Number(await p.locator('.cov-status').getAttribute('data-cells')) > 10);
    await p.getByTestId('review-empty').waitFor();
    await p.context().close();
  });

  it('a dispatcher gets neither the coverage toggle nor the review tools', async () => {
    const p = await signIn(DISPATCHER);
    await p.locator('table tbody tr').first().waitFor();
    assert.equal(await p.locator('#cov-toggle').count(), 0);
    assert.equal(await p.getByRole('heading', { name: 'Review queue' }).count(), 0);
    assert.equal(await p.getByRole('heading', { name: 'Registry health' }).count(), 0);
    const dispToken = await login(server.url, DISPATCHER);
    await assert.rejects(api(server.url, 'GET', `/api/v1/coverage?region=${REGION}`, { token: dispToken }), /403/);
    await p.context().close();
    assert.deepEqual(errors, []);
  });
});
