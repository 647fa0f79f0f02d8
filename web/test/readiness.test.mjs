// End-to-end: AED readiness monitoring in the console, against the real
// server. A monitoring unit is provisioned at an AED and reports over the
// HTTPS ingest (MAC'd JSON) first a few good readings, then a status-light
// fault; the console must show the AED as not ready, one open ticket with
// cause status_fault, the temperature chart, and let an operator acknowledge
// and a technician resolve the ticket. Run with `npm test`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, seedRegion, login, api, provisionUnit, sendTelemetry, OPERATOR, TECHNICIAN, DISPATCHER, REGION } from './harness.mjs';

const T = 30000;

describe('firstlink console: AED readiness', { timeout: 240000 }, () => {
  let server; let browser; let unit; let aedId; let opToken;
  const errors = [];

  before(async () => {
    server = await startServer();
    await seedRegion(server.url);
    opToken = await login(server.url, OPERATOR);
    // A second, unmonitored AED, so the map shows more than one state.
    await api(server.url, 'POST', `/api/v1/aeds?region=${REGION}`, {
      token: opToken, body: { name: 'Library AED', location: { lat: 55.6808, lon: 12.5755 }, access: 'public', status: 'active', opening_hours: '24/7' },
    });
    const aeds = await api(server.url, 'GET', `/api/v1/aeds?region=${REGION}`, { token: opToken });
    aedId = aeds.find((a) => a.name === 'Town Hall AED').id;
    unit = await provisionUnit(server.url, opToken, { aedId, hardware: 'Cabinet sensor CS-2' });
    assert.match(unit.secret, /^[A-Za-z0-9_-]{43}$/);
    // Two hours of good readings every 15 minutes, then the light shows a fault.
    const now = Math.floor(Date.now() / 1000);
    for (let i = 8; i >= 1; i -= 1) {
      await sendTelemetry(server.url, unit, { ts: now - i * 900, seq: 9 - i, light: 'ok', temp_c: 18 + (i % 4) * 1.5, batt_pct: 87 });
    }
    await sendTelemetry(server.url, unit, { ts: now, seq: 10, light: 'fault', temp_c: 21.5, batt_pct: 86 });
    const tickets = await api(server.url, 'GET', `/api/v1/monitoring/tickets?region=${REGION}`, { token: opToken });
    assert.deepEqual(tickets.map((x) => [x.cause, x.status]), [['status_fault', 'open']]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function signIn(who, path = '/console/#/readiness') {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB' });
    const p = await ctx.newPage();
    p.on('pageerror', (e) => errors.push(`${who.username}: ${e.message}`));
    p.setDefaultTimeout(T);
    await p.goto(`${server.url}${path}`);
    await p.getByLabel('Username').fill(who.username);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    return p;
  }

  it('operator sees the faulty AED as not ready, its ticket and its chart, and acknowledges', async () => {
    const p = await signIn(OPERATOR, '/console/');
    await p.getByRole('heading', { name: 'Incidents' }).waitFor();
    await p.getByRole('link', { name: 'Readiness' }).click();
    await p.getByRole('heading', { name: 'AED readiness' }).waitFor();
    // Summary: one not ready, one unmonitored.
    const tile = (k) => p.locator(`[data-section="summary"] [data-readiness="${k}"] .rd-count`);
    await p.locator('[data-section="summary"] [data-readiness="not_ready"] .rd-count[data-count="1"]').waitFor();
    assert.equal(await tile('not_ready').textContent(), '1');
    assert.equal(await tile('unmonitored').textContent(), '1');
    assert.equal(await tile('ready').textContent(), '0');
    assert.match(await p.getByTestId('ticket-counts').textContent(), /1 open ticket\(s\), 1 not acknowledged/);
    // The map colours the AEDs by readiness.
    await p.locator('.rd-map .fl-dot.rd-not_ready').waitFor();
    await p.locator('.rd-map .fl-dot.rd-unmonitored').waitFor();
    // One open ticket, cause status_fault.
    const tickets = p.locator('.rd-ticket');
    await tickets.first().waitFor();
    assert.equal(await tickets.count(), 1);
    const tk = tickets.first();
    assert.equal(await tk.getAttribute('data-cause'), 'status_fault');
    assert.equal(await tk.getAttribute('data-status'), 'open');
    assert.match(await tk.textContent(), /Town Hall AED/);
    assert.match(await tk.textContent(), /Status light shows a fault/);
    // The unit list shows the unit at its AED.
    await p.locator(`tr[data-unit="${unit.id}"] [data-readiness="not_ready"]`).waitFor();
    // Details: status light, battery, history and the temperature chart.
    await tk.getByRole('button', { name: 'Show AED' }).click();
    const det = p.locator('#rd-detail');
    await det.getByRole('heading', { name: /Town Hall AED/ }).waitFor();
    await det.locator('[data-light="fault"]').waitFor();
    assert.match(await det.locator('[data-signal="light"]').textContent(), /Fault/);
    assert.equal(await det.locator('meter#rd-batt').getAttribute('value'), '86');
    assert.match(await det.locator('[data-signal="battery"]').textContent(), /86 %/);
    assert.match(await det.locator('[data-signal="temperature"]').textContent(), /21\.5 °C/);
    await det.locator('[data-cause="status_fault"]').waitFor();
    const chart = det.locator('svg.temp-chart');
    await chart.waitFor();
    assert.equal(await chart.getAttribute('role'), 'img');
    assert.equal(await chart.getAttribute('data-buckets'), '9');
    assert.equal(await chart.locator('rect.band').count(), 9);
    assert.equal(await chart.locator('circle.last').count(), 9);
    assert.equal(await chart.locator('rect.op-range').count(), 1);
    assert.equal(await chart.locator('line.limit').count(), 2);
    assert.match(await chart.locator('desc').textContent(), /Operating range 0–50 °C/);
    const box = await chart.boundingBox();
    assert.ok(box.width > 300 && box.height > 100, `chart is drawn (${JSON.stringify(box)})`);
    await det.locator('.rd-history li[data-readiness="not_ready"]').waitFor();
    await det.locator('.rd-history li[data-readiness="ready"]').waitFor();
    // The selection is in the URL.
    assert.ok(p.url().endsWith(`#/readiness/${aedId}`), p.url());
    // Acknowledge.
    await tk.getByRole('button', { name: 'Acknowledge' }).click();
    await p.locator('.rd-ticket[data-status="acknowledged"]').waitFor();
    assert.match(await p.locator('.rd-ticket').textContent(), /Acknowledged by oper/);
    assert.equal(await p.locator('.rd-ticket [data-action="acknowledge"]').count(), 0);
    await p.getByTestId('ticket-counts').filter({ hasText: '1 open ticket(s), 0 not acknowledged' }).waitFor();
    const [x] = await api(server.url, 'GET', `/api/v1/monitoring/tickets?region=${REGION}`, { token: opToken });
    assert.equal(x.status, 'acknowledged');
    assert.equal(x.acknowledged_by, `operator:${OPERATOR.username}`);
    await p.context().close();
  });

  it('a technician sees only the readiness section and resolves the ticket with a note', async () => {
    const p = await signIn(TECHNICIAN, '/console/');
    await p.getByRole('heading', { name: 'AED readiness' }).waitFor();
    // No incidents, volunteers, policy or audit for technicians.
    assert.deepEqual(await p.locator('[data-nav]').evaluateAll((as) => as.map((a) => a.dataset.nav)), ['readiness']);
    await p.goto(`${server.url}/console/#/incidents`);
    await p.getByRole('heading', { name: 'AED readiness' }).waitFor();
    await p.locator('[data-section="summary"] [data-readiness="not_ready"] .rd-count[data-count="1"]').waitFor();
    // Technicians read their regions' registry (read only): the AEDs are placed with their units' readiness.
    await p.locator('.rd-map .fl-dot.rd-not_ready').waitFor();
    const tk = p.locator('.rd-ticket[data-cause="status_fault"]');
    await tk.waitFor();
    await tk.getByRole('button', { name: 'Resolve' }).click();
    const dlg = p.getByRole('dialog', { name: 'Resolve ticket' });
    await dlg.getByRole('button', { name: 'Resolve ticket' }).click();
    assert.match(await dlg.locator('[data-field="note"] .field-error').textContent(), /Describe what was done/);
    await dlg.getByLabel('What was done').fill('Replaced the battery; self-test passed.');
    await dlg.getByRole('button', { name: 'Resolve ticket' }).click();
    await p.getByText('No open tickets in this region.').waitFor();
    const all = await api(server.url, 'GET', `/api/v1/monitoring/tickets?region=${REGION}&open=false`, { token: opToken });
    assert.equal(all[0].status, 'resolved');
    assert.equal(all[0].note, 'Replaced the battery; self-test passed.');
    // The AED's ticket history shows it, with the note.
    await p.locator(`tr[data-unit="${unit.id}"] button`).click();
    await p.locator('#rd-detail .timeline li', { hasText: 'Replaced the battery' }).waitFor();
    // Danish on request.
    await p.goto(`${server.url}/console/?lang=da#/readiness`);
    await p.getByRole('heading', { name: 'Hjertestarternes parathed' }).waitFor();
    await p.locator('[data-section="summary"] [data-readiness="not_ready"]', { hasText: 'Ikke klar' }).waitFor();
    await p.context().close();
  });

  it('a dispatcher sees the fleet, but not the service tickets', async () => {
    const p = await signIn(DISPATCHER);
    await p.getByRole('heading', { name: 'AED readiness' }).waitFor();
    await p.locator('[data-section="summary"] [data-readiness="not_ready"] .rd-count[data-count="1"]').waitFor();
    await p.locator('.rd-map .fl-dot.rd-not_ready').waitFor();
    await p.getByText('Service tickets are shown to operators and technicians.').first().waitFor();
    await p.context().close();
    assert.deepEqual(errors, []);
  });
});
