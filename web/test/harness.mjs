// Test harness: starts the real firstlink server on a free loopback port
// with a temp data dir, sets up a region/operators/dispatch key with
// `firstlink admin`, runs a mock SMS gateway, and launches headless Chromium.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const REPO = resolve(import.meta.dirname, '..', '..');
export const DISPATCHER = { username: 'disp', password: 'dispatcher-pass-1' };
export const ADMIN = { username: 'admin', password: 'admin-pass-12345' };
export const OPERATOR = { username: 'oper', password: 'operator-pass-1' };
export const TECHNICIAN = { username: 'tech', password: 'technician-pass-1' };
export const REGION = 'testtown';

/** The firstlink binary: $E2E_FIRSTLINK_BIN, else $CARGO_TARGET_DIR (or ./target)/debug/firstlink, built if missing. */
export function findBinary() {
  if (process.env.E2E_FIRSTLINK_BIN) return process.env.E2E_FIRSTLINK_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(REPO, 'target');
  const bin = join(target, 'debug', 'firstlink');
  if (!existsSync(bin)) {
    console.error(`# building ${bin} (cargo build -p firstlink)…`);
    const r = spawnSync('cargo', ['build', '-p', 'firstlink'], { cwd: REPO, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('cargo build -p firstlink failed');
  }
  return bin;
}

function admin(bin, dataDir, args, env = {}) {
  const r = spawnSync(bin, ['admin', '--data-dir', dataDir, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`firstlink admin ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function startSmsGateway() {
  const messages = [];
  const waiters = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try { messages.push(JSON.parse(body)); } catch { messages.push({ raw: body }); }
      waiters.splice(0).forEach((w) => w());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"mock"}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/sms`,
    messages,
    async waitFor(pred, ms = 20000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = messages.find(pred);
        if (m) return m;
        if (Date.now() > end) throw new Error(`no SMS matched; got ${JSON.stringify(messages)}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 500); });
      }
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Starts the server. `prepare({ bin, dataDir, run })`, if given, runs after the
 * admin setup and before `serve`, e.g. to import AEDs with `run(['aeds', '--data-dir', dataDir, 'import', …])`.
 */
export async function startServer({ sms, prepare } = {}) {
  const bin = findBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'firstlink-e2e-'));
  admin(bin, dataDir, ['create-region', '--slug', REGION, '--name', 'Test Town', '--timezone', 'Europe/Copenhagen', '--country', 'DK']);
  const keyOut = admin(bin, dataDir, ['create-api-key', '--region', REGION, '--name', 'cad']);
  const dispatchKey = /dispatch-api-key: (\S+)/.exec(keyOut)?.[1];
  admin(bin, dataDir, ['create-operator', '--username', DISPATCHER.username, '--role', 'dispatcher', '--region', REGION, '--password-env', 'FL_PW'], { FL_PW: DISPATCHER.password });
  admin(bin, dataDir, ['create-operator', '--username', ADMIN.username, '--role', 'admin', '--password-env', 'FL_PW'], { FL_PW: ADMIN.password });
  admin(bin, dataDir, ['create-operator', '--username', OPERATOR.username, '--role', 'operator', '--region', REGION, '--password-env', 'FL_PW'], { FL_PW: OPERATOR.password });
  admin(bin, dataDir, ['create-operator', '--username', TECHNICIAN.username, '--role', 'technician', '--region', REGION, '--password-env', 'FL_PW'], { FL_PW: TECHNICIAN.password });
  if (prepare) {
    await prepare({
      bin, dataDir,
      run(args) {
        const r = spawnSync(bin, args, { env: { ...process.env, RUST_LOG: 'warn' }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`firstlink ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
        return r.stdout;
      },
    });
  }
  // Test files run side by side: each server's monitoring endpoint takes a free port.
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', FIRSTLINK_MONITOR__BROKER_LISTEN: '127.0.0.1:0' };
  if (sms) Object.assign(env, { FIRSTLINK_NOTIFY__SMS__URL: sms.url, FIRSTLINK_NOTIFY__SMS__AUTH_TOKEN: 'x', FIRSTLINK_NOTIFY__SMS__FROM: 'firstlink' });
  let log = '';
  function serve(listen) {
    const proc = spawn(bin, ['serve', '--listen', listen, '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr.on('data', (d) => { log += d; });
    const url = new Promise((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error(`server did not start: ${out}${log}`)), 60000);
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) { clearTimeout(t); res(m[1]); }
      });
      proc.on('exit', (c) => { clearTimeout(t); rej(new Error(`server exited ${c}: ${log}`)); });
    });
    return { proc, url };
  }
  const halt = (proc, signal = 'SIGTERM') => new Promise((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) { r(); return; }
    proc.on('exit', r); proc.kill(signal); setTimeout(r, 5000);
  });
  let current = serve('127.0.0.1:0');
  const url = await current.url;
  const server = {
    url, dataDir, dispatchKey, log: () => log,
    get proc() { return current.proc; },
    /** Kills the server process (the data stays; open live feeds would keep a graceful stop waiting), e.g. to test a lost connection. */
    async halt() { await halt(current.proc, 'SIGKILL'); },
    /** Starts it again on the same address and data directory. */
    async resume() { current = serve(new URL(url).host); await current.url; },
    async stop() {
      await halt(current.proc);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

export async function api(base, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return data;
}

export async function login(base, who) {
  return (await api(base, 'POST', '/api/v1/auth/login', { body: who })).token;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A patient, an AED with a code right next to it, and a volunteer ~400 m away (central Copenhagen). */
export const PATIENT = { lat: 55.6786, lon: 12.5700 };
export const AED_AT = { lat: 55.67875, lon: 12.57025 };
export const VOLUNTEER_AT = { latitude: 55.6752, longitude: 12.5695 };

export async function seedRegion(base) {
  const adminToken = await login(base, ADMIN);
  const policy = await api(base, 'GET', `/api/v1/regions/${REGION}/policy`, { token: adminToken });
  // Hjerteløber style: the first acceptor fetches the AED, so the task shows it.
  policy.roles = { kind: 'first_n_via_aed', n: 1 };
  await api(base, 'PUT', `/api/v1/regions/${REGION}/policy`, { token: adminToken, body: policy });
  await api(base, 'POST', `/api/v1/aeds?region=${REGION}`, {
    token: adminToken,
    body: {
      name: 'Town Hall AED', location: AED_AT, access: 'public', status: 'active', opening_hours: '24/7',
      location_desc: [['en', 'In the glass cabinet left of the main entrance'], ['da', 'I glasskabet til venstre for hovedindgangen']],
      indoor: false, locked: true, access_code: '4711', level: '0',
    },
  });
  return { adminToken };
}

/** Provisions a monitoring unit at an AED (operator token); the answer holds its `secret`, once. */
export async function provisionUnit(base, token, { aedId, hardware = 'Test cabinet sensor v1', intervalS = 300 }) {
  return api(base, 'POST', '/api/v1/monitoring/units', { token, body: { region: REGION, aed_id: aedId, hardware, interval_s: intervalS } });
}

/**
 * Sends one JSON reading over the HTTPS ingest, MAC'd as crates/monitor/README.md §3
 * says: base64url (no padding) of the first 16 bytes of HMAC-SHA256(key, exact bytes of t).
 */
export async function sendTelemetry(base, unit, t) {
  const key = Buffer.from(unit.secret, 'base64url');
  const tJson = JSON.stringify(t);
  const mac = createHmac('sha256', key).update(tJson).digest().subarray(0, 16).toString('base64url');
  const r = await fetch(`${base}/api/v1/units/${unit.id}/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${unit.secret}`, 'content-type': 'application/json' },
    body: `{"t":${tJson},"mac":"${mac}"}`,
  });
  if (r.status !== 202) throw new Error(`telemetry for ${unit.id}: ${r.status} ${await r.text()}`);
}
