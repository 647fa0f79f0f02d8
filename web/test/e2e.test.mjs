// End-to-end: real server, real headless Chromium, two browser contexts
// (volunteer phone, dispatcher desktop). Run with `npm test`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startSmsGateway, launchBrowser, seedRegion, DISPATCHER, REGION, PATIENT, VOLUNTEER_AT } from './harness.mjs';

const T = 30000;

describe('firstlink web: volunteer accepts, dispatcher follows live', { timeout: 240000 }, () => {
  let server; let sms; let browser; let vol; let disp; let volCtx; let dispCtx;
  const errors = [];

  before(async () => {
    sms = await startSmsGateway();
    server = await startServer({ sms });
    await seedRegion(server.url);
    browser = await launchBrowser();
    volCtx = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true,
      geolocation: VOLUNTEER_AT, permissions: ['geolocation', 'notifications'], locale: 'en-GB',
    });
    dispCtx = await browser.newContext({ viewport: { width: 1366, height: 860 }, locale: 'en-GB' });
    vol = await volCtx.newPage();
    disp = await dispCtx.newPage();
    for (const [name, p] of [['volunteer', vol], ['dispatcher', disp]]) {
      p.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
      p.setDefaultTimeout(T);
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sms?.close();
  });

  it('shows field errors next to the field (client and server side)', async () => {
    await vol.goto(`${server.url}/app/?region=${REGION}`);
    await vol.getByRole('button', { name: 'Sign up' }).click();
    await vol.getByRole('button', { name: 'Sign up' }).click();
    // Client-side: required name, contact and consent.
    await vol.locator('[data-field="name"] .field-error').waitFor();
    assert.match(await vol.locator('[data-field="consent"] .field-error').textContent(), /agree/);
    // Server-side: an unknown region is named by the API and shown next to its field.
    await vol.getByLabel('Region code').fill('no-such-region');
    await fillSignup(vol);
    await vol.getByRole('button', { name: 'Sign up' }).click();
    await vol.locator('[data-field="region"] .field-error:not([hidden])').waitFor();
    await vol.getByLabel('Region code').fill(REGION);
  });

  it('volunteer signs up, verifies the code and becomes ready', async () => {
    await fillSignup(vol);
    await vol.getByRole('button', { name: 'Sign up' }).click();
    await vol.getByRole('heading', { name: 'Confirm your contact' }).waitFor();
    const msg = await sms.waitFor((m) => /\b\d{6}\b/.test(m.text || ''));
    assert.equal(msg.to, '+4520304050');
    const code = /\b(\d{6})\b/.exec(msg.text)[1];
    await vol.getByLabel('Code').fill(code);
    await vol.getByRole('button', { name: 'Confirm' }).click();
    await vol.locator('#readiness').waitFor();
    // Availability on → position is sent → readiness all green except push (not configured).
    await vol.locator('#available').check();
    await vol.locator('[data-check="available"][data-ok="true"]').waitFor();
    await vol.locator('[data-check="position"][data-ok="true"]').waitFor();
    await vol.locator('[data-check="location"][data-ok="true"]').waitFor();
    assert.equal(await vol.locator('[data-check="push"]').getAttribute('data-ok'), 'false');
    assert.match(await vol.locator('[data-check="push"]').textContent(), /Push is not available/);
  });

  let incidentUrl;
  it('dispatcher signs in and starts a test alert from the map', async () => {
    await disp.goto(`${server.url}/console/`);
    await disp.getByLabel('Username').fill(DISPATCHER.username);
    await disp.getByLabel('Password').fill(DISPATCHER.password);
    await disp.getByRole('button', { name: 'Sign in' }).click();
    await disp.getByRole('heading', { name: 'Incidents' }).waitFor();
    await disp.locator('.conn.live').waitFor();
    // Click the map: the dialog opens prefilled with that position.
    await disp.locator('.big-map').click({ position: { x: 200, y: 200 } });
    const dlg = disp.getByRole('dialog', { name: 'Start a test alert' });
    await dlg.waitFor();
    await dlg.getByLabel('Latitude').fill('91');
    await dlg.getByRole('button', { name: 'Alert volunteers' }).click();
    assert.match(await dlg.locator('[data-field="location.lat"] .field-error').textContent(), /between -90 and 90/);
    await dlg.getByLabel('Latitude').fill(String(PATIENT.lat));
    await dlg.getByLabel('Longitude').fill(String(PATIENT.lon));
    await dlg.getByLabel('Address').fill('Rådhuspladsen 1, København');
    await dlg.getByLabel('Notes for responders').fill('Man collapsed by the fountain');
    await dlg.getByRole('button', { name: 'Alert volunteers' }).click();
    await disp.waitForURL(/#\/incidents\/[0-9a-f-]+$/);
    incidentUrl = disp.url();
    await disp.getByRole('heading', { name: 'Rådhuspladsen 1, København' }).waitFor();
    await disp.locator('tr[data-state="alerted"]').waitFor();
  });

  it('volunteer gets the alert, accepts and sees task, map and AED code', async () => {
    await vol.getByRole('heading', { name: 'Cardiac arrest nearby' }).waitFor();
    assert.match(await vol.locator('.alert-dist').textContent(), /away/);
    await vol.getByRole('button', { name: 'I can go' }).click();
    await vol.getByRole('heading', { name: 'Fetch the AED, then go to the patient' }).waitFor();
    assert.equal((await vol.locator('#aed-code').textContent()).trim(), '4711');
    assert.match(await vol.locator('#aed-card').textContent(), /glass cabinet left of the main entrance/);
    assert.match(await vol.locator('.addr').textContent(), /Rådhuspladsen 1/);
    assert.match(await vol.locator('#open-maps').getAttribute('href'), /^geo:55\.67875,12\.57025/);
    await vol.locator('.task-map.leaflet-container .fl-dot.aed').waitFor();
    await vol.locator('.task-map .fl-dot.patient').waitFor();
    await vol.locator('.task-map path.leaflet-interactive').first().waitFor();
  });

  it('dispatcher sees the acceptance live, without a reload', async () => {
    assert.equal(disp.url(), incidentUrl);
    await disp.locator('tr[data-state="accepted"], tr[data-state="en_route"]').waitFor();
    await disp.locator('[data-count="accepted"]', { hasText: '1 accepted' }).waitFor();
    await disp.locator('.timeline li[data-type="accepted"]').waitFor();
    await disp.locator('.big-map .fl-dot.aed').waitFor();
  });

  it('dispatcher messages reach the volunteer; progress reaches the dispatcher', async () => {
    await disp.getByLabel('Message to responders').fill('Entrance from the courtyard');
    await disp.getByRole('button', { name: 'Send message' }).click();
    await vol.locator('#messages li', { hasText: 'Entrance from the courtyard' }).waitFor();
    await vol.getByRole('button', { name: 'AED collected' }).click();
    await disp.locator('tr[data-state="at_aed"]').waitFor();
    await vol.getByRole('button', { name: 'I am on scene' }).click();
    await disp.locator('tr[data-state="on_scene"]').waitFor();
  });

  it('dispatcher ends the mission; both screens show it', async () => {
    await disp.getByRole('button', { name: 'End mission' }).click();
    await disp.getByRole('dialog', { name: 'End mission' }).getByRole('button', { name: 'End mission' }).click();
    await disp.locator('.inc-head [data-status="ended"]').waitFor();
    await vol.getByRole('heading', { name: 'The mission has ended' }).waitFor();
    // The survey and the support offer.
    await vol.getByLabel('Quite hard').check();
    await vol.getByRole('button', { name: 'Send' }).click();
    await vol.locator('.support', { hasText: 'call you' }).waitFor();
    assert.deepEqual(errors, []);
  });

  it('the mission history shows the mission, what the volunteer did and the survey', async () => {
    const id = /#\/incidents\/([0-9a-f-]+)$/.exec(incidentUrl)[1];
    await vol.getByRole('button', { name: 'Done' }).click();
    await vol.getByRole('button', { name: 'My missions' }).click();
    await vol.getByRole('heading', { name: 'My missions' }).waitFor();
    const item = vol.locator(`#history li[data-incident="${id}"]`);
    await item.waitFor();
    assert.equal(await vol.locator('#history li').count(), 1);
    assert.equal(await item.getAttribute('data-status'), 'ended');
    assert.equal(await item.getAttribute('data-state'), 'on_scene');
    const text = await item.textContent();
    assert.match(text, /On scene/);
    assert.match(text, /Task: Fetch AED/);
    // The task comes from the API (any device), not from what this device remembered.
    assert.equal(await vol.evaluate(() => localStorage.getItem('firstlink.app.roles')), null);
    assert.match(text, /Mission: Ended/);
    assert.match(text, /Answers sent/);
    // Date and time of the alert, in the app's language.
    const when = await item.locator('time').getAttribute('datetime');
    assert.ok(Math.abs(Date.now() - Date.parse(when)) < 10 * 60 * 1000, when);
    assert.match(await item.locator('time').textContent(), /\d{1,2}[:.]\d{2}/);
    // The survey link opens the survey for that mission; Back returns to the history.
    await item.getByRole('link', { name: 'Answer the questions about this mission' }).click();
    await vol.getByRole('heading', { name: 'The mission has ended' }).waitFor();
    await vol.getByLabel('Not at all').check();
    await vol.getByRole('button', { name: 'Send' }).click();
    await vol.locator('.support').waitFor();
    await vol.getByRole('button', { name: 'Done' }).click();
    await vol.getByRole('heading', { name: 'My missions' }).waitFor();
    await vol.locator(`#history li[data-incident="${id}"]`).waitFor();
    // ?lang= overrides the profile language: the same screen in German.
    const p = await volCtx.newPage();
    p.on('pageerror', (e) => errors.push(`volunteer (de): ${e.message}`));
    await p.goto(`${server.url}/app/?lang=de`);
    await p.getByRole('button', { name: 'Meine Einsätze' }).click();
    const de = p.locator(`#history li[data-incident="${id}"]`);
    await de.waitFor();
    assert.match(await de.textContent(), /Vor Ort.*Aufgabe: Defibrillator holen.*Einsatz: Beendet/s);
    assert.equal(await p.evaluate(() => document.documentElement.lang), 'de');
    await p.close();
    await vol.evaluate(() => localStorage.setItem('firstlink.app.lang', 'en'));
    assert.deepEqual(errors, []);
  });

  it('public AED map shows a friendly state while the endpoint is missing', async () => {
    const p = await volCtx.newPage();
    await p.goto(`${server.url}/map/`);
    const r = await p.request.get(`${server.url}/api/v1/public/aeds`);
    if (r.status() === 404) await p.locator('[data-state="unavailable"]').waitFor();
    else await p.locator('.aed-item').first().waitFor();
    await p.close();
  });
});

async function fillSignup(p) {
  await p.getByLabel('Full name').fill('Astrid Jensen');
  await p.getByLabel('Mobile number').fill('+4520304050');
  await p.getByLabel('Password', { exact: true }).fill('correct-horse-1');
  await p.getByLabel('Date of birth').fill('1990-04-02');
  await p.getByLabel('Date of your latest CPR course').fill('2026-03-01');
  await p.getByLabel(/I agree that firstlink/).check();
}
