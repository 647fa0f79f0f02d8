// End-to-end: a lost connection is shown and recovered from, never a blank
// page. The console and the volunteer app go offline (playwright's
// setOffline) while an alert goes out, come back and show it without a
// reload; then the server process itself dies and is started again, and
// both screens recover on their own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startSmsGateway, launchBrowser, seedRegion, api, DISPATCHER, REGION, PATIENT, VOLUNTEER_AT } from './harness.mjs';

const T = 30000;

describe('firstlink web: connection lost and recovered', { timeout: 240000 }, () => {
  let server; let sms; let browser; let dispCtx; let volCtx; let disp; let vol; let volToken;
  const errors = [];

  before(async () => {
    sms = await startSmsGateway();
    server = await startServer({ sms });
    await seedRegion(server.url);
    const s = await api(server.url, 'POST', '/api/v1/volunteers/signup', { body: { region: REGION, name: 'Ole Berg', phone: '+4520304080', password: 'correct-horse-4', language: 'en', birth_date: '1975-02-02', training: { kind: 'bls', date: new Date().toISOString().slice(0, 10) }, consent: true } });
    const m = await sms.waitFor((x) => x.to === '+4520304080');
    volToken = (await api(server.url, 'POST', '/api/v1/volunteers/verify', { body: { volunteer_id: s.volunteer_id, code: /\b(\d{6})\b/.exec(m.text)[1] } })).token;
    await api(server.url, 'PUT', '/api/v1/me/availability', { token: volToken, body: { available: true, quiet_hours: null } });
    browser = await launchBrowser();
    dispCtx = await browser.newContext({ viewport: { width: 1366, height: 860 }, locale: 'en-GB' });
    volCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, geolocation: VOLUNTEER_AT, permissions: ['geolocation'], locale: 'en-GB' });
    disp = await dispCtx.newPage(); vol = await volCtx.newPage();
    for (const [n, p] of [['dispatcher', disp], ['volunteer', vol]]) {
      // A failed fetch while offline is expected; an uncaught exception is not.
      p.on('pageerror', (e) => errors.push(`${n}: ${e.message}`));
      p.setDefaultTimeout(T);
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sms?.close();
  });

  const visibleText = (p) => p.evaluate(() => document.body.innerText.trim().length);

  it('both screens are live to begin with', async () => {
    await disp.goto(`${server.url}/console/`);
    await disp.getByLabel('Username').fill(DISPATCHER.username);
    await disp.getByLabel('Password').fill(DISPATCHER.password);
    await disp.getByRole('button', { name: 'Sign in' }).click();
    await disp.getByRole('heading', { name: 'Incidents' }).waitFor();
    await disp.locator('.conn.live').waitFor();
    assert.equal(await disp.locator('#conn-banner').isHidden(), true);
    await vol.goto(`${server.url}/app/`);
    await vol.evaluate((tok) => localStorage.setItem('firstlink.app.token', tok), volToken);
    await vol.reload();
    await vol.locator('[data-check="position"][data-ok="true"]').waitFor();
    // The service worker now caches the app shell for offline starts.
    await vol.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await vol.reload();
    await vol.locator('#readiness').waitFor();
  });

  let incidentId;
  it('offline: both show it; an alert goes out meanwhile; online again: both show it without a reload', async () => {
    await dispCtx.setOffline(true);
    await volCtx.setOffline(true);
    await disp.locator('#conn-banner:not([hidden])').waitFor();
    await disp.locator('.conn.reconnecting', { hasText: /Offline|Reconnecting/ }).waitFor();
    await vol.locator('.banner.offline:not([hidden])', { hasText: 'No connection to the server' }).waitFor();
    // The dispatch centre reports an arrest while both are offline.
    const r = await api(server.url, 'POST', '/api/v1/incidents', {
      token: server.dispatchKey,
      body: { external_id: 'cad-offline-1', location: PATIENT, address: 'Nytorv 1, København', reported_at: new Date().toISOString(), location_type: 'public', ems_eta_seconds: 600 },
    });
    incidentId = r.id;
    await disp.waitForTimeout(1500);
    assert.ok(await visibleText(disp) > 20, 'the console keeps its page while offline');
    assert.ok(await visibleText(vol) > 20, 'the app keeps its page while offline');
    // A reload while offline: the app starts from its cached shell and says why it waits.
    const p = await volCtx.newPage();
    p.on('pageerror', (e) => errors.push(`volunteer (offline start): ${e.message}`));
    await p.goto(`${server.url}/app/`).catch(() => {});
    await p.getByText('No connection to the server').first().waitFor();
    await p.close();

    await dispCtx.setOffline(false);
    await volCtx.setOffline(false);
    await disp.locator('.conn.live').waitFor();
    await disp.locator('#conn-banner[hidden]').waitFor({ state: 'attached' });
    await disp.locator(`[data-incident="${incidentId}"]`).waitFor();
    await vol.locator('.banner.offline[hidden]').waitFor({ state: 'attached' });
    await vol.getByRole('heading', { name: 'Cardiac arrest nearby' }).waitFor();
  });

  it('the server dies and comes back: both recover on their own', async () => {
    await disp.locator(`[data-incident="${incidentId}"]`).click();
    await disp.getByRole('heading', { name: 'Nytorv 1, København' }).waitFor();
    await disp.locator('.conn.live').waitFor();
    await server.halt();
    await disp.locator('#conn-banner:not([hidden])').waitFor();
    await vol.locator('.banner.offline:not([hidden])').waitFor();
    assert.ok(await visibleText(disp) > 20 && await visibleText(vol) > 20, 'never a blank page');
    await server.resume();
    // Accepted through the API while the screens are still catching up.
    await disp.locator('.conn.live').waitFor();
    await disp.locator('#conn-banner[hidden]').waitFor({ state: 'attached' });
    await vol.getByRole('button', { name: 'I can go' }).click();
    await vol.getByRole('heading', { name: /Go straight to the patient|Fetch the AED/ }).waitFor();
    await vol.locator('.banner.offline[hidden]').waitFor({ state: 'attached' });
    // The console shows the acceptance live, after the restart.
    await disp.locator('tr[data-state="accepted"], tr[data-state="en_route"]').waitFor();
    await disp.locator('.timeline li[data-type="accepted"]').waitFor();
    assert.deepEqual(errors, []);
  });
});
