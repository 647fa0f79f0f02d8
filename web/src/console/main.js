// Dispatcher and operator console.
import '../shared/style.css';
import './console.css';
import { h, clear, field, showFormError, clearFormErrors, fieldError, fmtTime, fmtDateTime, fmtDistance, fmtDuration, secondsUntil } from '../shared/dom.js';
import { createClient, liveFeed, ApiError } from '../shared/api.js';
import { createMap, dot, L } from '../shared/map.js';
import { readinessView } from './readiness.js';
import { coverageLayer, registryPanels } from './registry.js';
import { regionView, renderHeaderBrand } from './region.js';
import { initLang, t, lang } from './i18n.js';

initLang();

const SESSION_KEY = 'firstlink.console.session';
const REGION_KEY = 'firstlink.console.region';

const state = {
  session: loadSession(),
  regions: [],
  region: localStorage.getItem(REGION_KEY) || '',
  conn: 'live',
  online: true,
  regionFeed: null,
  view: null, // cleanup function of the current view
  listeners: new Set(), // region-wide event listeners of the current view
};

function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY));
    if (s && new Date(s.expires_at) > new Date()) return s;
  } catch { /* ignore */ }
  return null;
}

const api = createClient({
  getToken: () => state.session?.token,
  onUnauthorized: () => signOut('Your session has expired. Please sign in again.'),
  onNetwork: (ok) => { if (state.online !== ok) { state.online = ok; renderConn(); } },
});

const root = document.getElementById('root');
let connEl;

// ---------- colours and labels ----------
const STATE_INFO = {
  alerted: ['Alerted', '#5f6368'],
  accepted: ['Accepted', '#0b57d0'],
  en_route: ['En route', '#0b57d0'],
  at_aed: ['AED collected', '#7b1fa2'],
  on_scene: ['On scene', '#146c2e'],
  handed_over: ['Handed over', '#0c4a1f'],
  declined: ['Declined', '#9aa0a6'],
  timed_out: ['No answer', '#9aa0a6'],
  stood_down: ['Stood down', '#9aa0a6'],
  out_of_range: ['Out of range', '#9aa0a6'],
  left: ['Withdrew', '#9aa0a6'],
};
const RESPONDING = new Set(['accepted', 'en_route', 'at_aed', 'on_scene', 'handed_over']);
const STATUS_CLASS = { active: 'bad', not_alerted: 'warn', ended: 'ok', cancelled: '' };
const STATUS_TEXT = { active: 'Active', not_alerted: 'Not alerted', ended: 'Ended', cancelled: 'Cancelled' };
const ROLE_TEXT = { cpr: 'CPR', fetch_aed: 'Fetch AED' };

function statusPill(s) { return h('span', { class: `pill ${STATUS_CLASS[s] ?? ''}`, 'data-status': s }, STATUS_TEXT[s] ?? s); }
function statePill(s) {
  const [t, c] = STATE_INFO[s] ?? [s, '#5f6368'];
  return h('span', { class: 'pill state-pill', style: { background: c, color: '#fff' }, 'data-state': s }, t);
}

// ---------- shell ----------
function renderConn() {
  if (!connEl) return;
  const live = state.online && state.conn === 'live';
  connEl.className = `conn ${live ? 'live' : 'reconnecting'}`;
  connEl.textContent = live ? '● Live' : state.online ? '● Reconnecting…' : '● Offline – retrying';
  connEl.title = live ? 'Receiving live updates' : 'The live connection was lost; the console keeps retrying and will catch up.';
  document.getElementById('conn-banner')?.toggleAttribute('hidden', live);
}

function signOut(message) {
  state.session = null;
  localStorage.removeItem(SESSION_KEY);
  state.regionFeed?.close();
  state.regionFeed = null;
  state.view?.();
  state.view = null;
  renderLogin(message);
}

function renderLogin(message) {
  const form = h('form', { class: 'card login stack', novalidate: true },
    h('h1', null, 'firstlink console'),
    h('p', { class: 'muted' }, 'Sign in as dispatcher, operator or technician.'),
    message ? h('p', { class: 'banner info', role: 'status' }, message) : null,
    field({ label: 'Username', name: 'username', attrs: { autocomplete: 'username' } }),
    field({ label: 'Password', name: 'password', type: 'password', attrs: { autocomplete: 'current-password' } }),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    const username = form.username.value.trim(); const password = form.password.value;
    if (!username) return fieldError(form, 'username', 'Enter your username.');
    if (!password) return fieldError(form, 'password', 'Enter your password.');
    try {
      const s = await api.post('/api/v1/auth/login', { username, password });
      state.session = s;
      localStorage.setItem(SESSION_KEY, JSON.stringify(s));
      await start();
    } catch (e) {
      showFormError(form, e, 'Could not sign in.');
    }
  });
  clear(root, h('main', { id: 'main', class: 'login-wrap' }, form));
  form.username.focus();
}

async function start() {
  try {
    state.regions = await api.get('/api/v1/regions');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    clear(root, h('main', { id: 'main', class: 'login-wrap' }, h('div', { class: 'card' },
      h('h1', null, 'Cannot reach the server'), h('p', null, e.message), h('button', { onclick: () => start() }, 'Try again'))));
    return;
  }
  const mine = state.session.whoami.regions;
  if (mine?.length) {
    state.regions = state.regions.filter((r) => mine.includes(r.slug) || mine.includes(r.id));
    // Technicians may not list regions (that is for incident work); their
    // session names the regions they service.
    for (const slug of mine) if (!state.regions.find((r) => r.slug === slug || r.id === slug)) state.regions.push({ slug, name: slug });
  }
  if (!state.regions.find((r) => r.slug === state.region)) state.region = state.regions[0]?.slug ?? '';
  renderShell();
  openRegionFeed();
  route();
}

function renderShell() {
  connEl = h('span', { class: 'conn live', role: 'status', 'aria-live': 'polite' });
  const regionSel = h('select', { id: 'region', 'aria-label': 'Region', onchange: (e) => { state.region = e.target.value; localStorage.setItem(REGION_KEY, state.region); refreshBrand(); route(); } },
    state.regions.map((r) => h('option', { value: r.slug, selected: r.slug === state.region }, r.name)));
  const sections = isTechnician()
    ? [['#/readiness', t('nav')]]
    : [['#/incidents', 'Incidents'], ['#/aeds', 'AEDs'], ['#/readiness', t('nav')], ['#/volunteers', 'Volunteers'], ['#/policy', 'Policy'],
      ...(isOperator() ? [['#/region', 'Region']] : []), ['#/audit', 'Audit log']];
  const nav = h('nav', { 'aria-label': 'Sections' }, h('ul', null,
    sections.map(([href, text]) => h('li', null, h('a', { href, 'data-nav': href.slice(2), lang: href === '#/readiness' ? lang() : null }, text)))));
  clear(root,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: isTechnician() ? '#/readiness' : '#/incidents' }, 'firstlink'),
      h('span', { class: 'region-brand', id: 'region-brand' }),
      nav,
      h('div', { class: 'row top-right' },
        h('label', { for: 'region', class: 'sr-only' }, 'Region'), regionSel, connEl,
        h('span', { class: 'muted who' }, `${state.session.whoami.name} (${state.session.whoami.role})`),
        h('button', { class: 'secondary', onclick: () => { api.post('/api/v1/auth/logout').catch(() => {}); signOut('Signed out.'); } }, 'Sign out'))),
    h('div', { id: 'conn-banner', class: 'banner', role: 'alert', hidden: true }, 'Live connection lost. Reconnecting… The view will catch up automatically.'),
    h('main', { id: 'main', tabindex: '-1' }));
  renderConn();
  refreshBrand();
}

function refreshBrand() { renderHeaderBrand(document.getElementById('region-brand'), { api, region: state.region }); }

/** Operators and administrators (not dispatchers, not technicians) see coverage and registry review. */
function isOperator() { return ['operator', 'admin'].includes(state.session?.whoami?.role); }

/** Technicians see only AED readiness and service tickets: no incidents, no volunteers. */
function isTechnician() { return state.session?.whoami?.role === 'technician'; }

function openRegionFeed() {
  state.regionFeed?.close();
  state.regionFeed = liveFeed(() => `/api/v1/events?access_token=${encodeURIComponent(state.session.token)}`, {
    onEvent: (ev) => state.listeners.forEach((fn) => fn(ev)),
    onState: (s) => {
      const was = state.conn; state.conn = s;
      if (s === 'live') state.online = true; // the stream is open: the server is reachable again
      renderConn();
      if (s === 'live' && was !== 'live') state.listeners.forEach((fn) => fn({ type: 'reconnected' }));
    },
  });
}

window.addEventListener('hashchange', () => state.session && route());
// Back online: open the live feed afresh (a stream that hung while offline may
// have missed events) and let the current view reload what changed meanwhile.
window.addEventListener('online', () => {
  state.online = true; renderConn();
  if (!state.session || !state.regionFeed) return;
  openRegionFeed();
  state.listeners.forEach((fn) => fn({ type: 'reconnected' }));
});
window.addEventListener('offline', () => { state.online = false; renderConn(); });

function route() {
  const main = document.getElementById('main');
  if (!main) return;
  state.view?.();
  state.view = null;
  state.listeners.clear();
  const home = isTechnician() ? 'readiness' : 'incidents';
  const parts = (location.hash.replace(/^#\/?/, '') || home).split('/');
  if (isTechnician() && parts[0] !== 'readiness') parts.splice(0, parts.length, 'readiness');
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === parts[0]) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  clear(main);
  const views = {
    incidents: parts[1] ? () => incidentView(main, parts[1]) : () => incidentsView(main), aeds: () => aedsView(main),
    readiness: () => readinessView(main, { api, region: state.region, role: state.session.whoami.role, selected: parts[1] }),
    volunteers: () => volunteersView(main), policy: () => policyView(main), audit: () => auditView(main),
    region: () => (isOperator() ? regionView(main, { api, region: state.region, regionName: regionObj()?.name ?? state.region, onBrandChange: refreshBrand }) : incidentsView(main)),
  };
  const v = views[parts[0]] ?? views[home];
  state.view = v() || null;
}

function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

function regionObj() { return state.regions.find((r) => r.slug === state.region); }

// ---------- incidents list + map ----------
function incidentsView(main) {
  document.title = 'Incidents – firstlink console';
  const listEl = h('div', { class: 'inc-list', 'aria-live': 'polite' });
  const showEnded = h('input', { type: 'checkbox', id: 'show-ended' });
  const mapEl = h('div', { class: 'big-map' });
  clear(main,
    h('div', { class: 'split' },
      h('section', { class: 'side stack', 'aria-labelledby': 'inc-h' },
        h('div', { class: 'row spread' }, h('h1', { id: 'inc-h' }, 'Incidents'),
          h('button', { onclick: () => testAlertDialog(map.getCenter()) }, '+ Test alert')),
        h('div', { class: 'row' }, showEnded, h('label', { for: 'show-ended' }, 'Show recent ended')),
        listEl),
      h('section', { class: 'map-pane', 'aria-label': 'Incident map' },
        h('p', { class: 'hint map-hint' }, 'Click the map to start a test alert at that place.'),
        mapEl)));
  const map = createMap(mapEl, { label: 'Map of incidents. Click to start a test alert.' });
  const layer = L.layerGroup().addTo(map);
  let fitted = false;
  map.on('click', (e) => testAlertDialog(e.latlng));

  async function load() {
    try {
      const live = await api.get(`/api/v1/incidents?live=true&region=${encodeURIComponent(state.region)}`);
      let ended = [];
      if (showEnded.checked) ended = (await api.get(`/api/v1/incidents?live=false&region=${encodeURIComponent(state.region)}&limit=20`)).filter((i) => !live.find((l) => l.id === i.id));
      render(live, ended);
    } catch (e) {
      clear(listEl, h('p', { class: 'banner' }, `Could not load incidents: ${e.message}`));
    }
  }
  function card(i) {
    return h('li', null, h('a', { class: 'inc-card', href: `#/incidents/${i.id}`, 'data-incident': i.id },
      h('div', { class: 'row spread' }, h('strong', null, i.address || i.external_id), statusPill(i.status)),
      h('div', { class: 'muted' }, `${fmtDateTime(i.created_at)}${i.test ? ' · TEST' : ''}`),
      h('div', { class: 'counts' }, `${i.counts.accepted} accepted · ${i.counts.pending} waiting · ${i.counts.alerted} alerted`)));
  }
  function render(live, ended) {
    clear(listEl,
      live.length ? h('ul', { class: 'plain' }, live.map(card)) : h('p', { class: 'muted' }, 'No live incidents in this region.'),
      ended.length ? [h('h2', null, 'Recent'), h('ul', { class: 'plain' }, ended.map(card))] : null);
    layer.clearLayers();
    const pts = [];
    for (const i of [...live, ...ended]) {
      const ll = [i.location.lat, i.location.lon]; pts.push(ll);
      dot(ll, { color: i.status === 'active' ? '#c5221f' : '#5f6368', label: `${i.address} (${STATUS_TEXT[i.status] ?? i.status})`, size: 20, text: '✚', cls: 'patient' })
        .on('click', (ev) => { L.DomEvent.stopPropagation(ev); location.hash = `#/incidents/${i.id}`; })
        .addTo(layer);
    }
    if (!fitted && pts.length) { map.fitBounds(L.latLngBounds(pts).pad(0.5), { maxZoom: 15 }); fitted = true; }
    else if (!fitted) { fitToRegion(map); fitted = true; }
  }
  showEnded.addEventListener('change', load);
  const reload = debounce(load, 300);
  state.listeners.add(() => reload());
  load();
  return () => map.remove();
}

async function fitToRegion(map) {
  // Centre on the region's AEDs when there are no incidents to look at.
  try {
    const aeds = await api.get(`/api/v1/aeds?region=${encodeURIComponent(state.region)}`);
    const pts = aeds.filter((a) => a.location).map((a) => [a.location.lat, a.location.lon]);
    if (pts.length) map.fitBounds(L.latLngBounds(pts), { maxZoom: 15 });
  } catch { /* keep default */ }
}

function testAlertDialog(latlng) {
  const now = new Date();
  const form = h('form', { method: 'dialog', class: 'stack', novalidate: true },
    h('h2', null, 'Start a test alert'),
    h('p', { class: 'banner info' }, 'Real volunteers near this place will be alerted, marked as TEST.'),
    h('div', { class: 'row two' },
      field({ label: 'Latitude', name: 'location.lat', type: 'number', value: latlng.lat.toFixed(6), attrs: { step: 'any' } }),
      field({ label: 'Longitude', name: 'location.lon', type: 'number', value: latlng.lng.toFixed(6), attrs: { step: 'any' } })),
    field({ label: 'Address', name: 'address', value: '', attrs: { autocomplete: 'off' } }),
    field({ label: 'Type of place', name: 'location_type', value: 'public', options: [['public', 'Public place'], ['residence', 'Residence'], ['care_facility', 'Care facility'], ['unknown', 'Unknown']] }),
    field({ label: 'Ambulance expected in (minutes)', name: 'ems_eta_seconds', type: 'number', value: '10', attrs: { min: '0', step: '1' } }),
    field({ label: 'Notes for responders (optional)', name: 'notes', type: 'textarea' }),
    field({ label: 'Reference', name: 'external_id', value: `TEST-${now.toISOString().replace(/\D/g, '').slice(0, 14)}` }),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger' }, 'Alert volunteers'), h('button', { type: 'button', class: 'secondary', value: 'cancel', onclick: () => dlg.close() }, 'Cancel')));
  const dlg = h('dialog', { 'aria-label': 'Start a test alert' }, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    const f = (n) => form.querySelector(`[name="${n}"]`).value.trim();
    const lat = Number(f('location.lat')); const lon = Number(f('location.lon'));
    let bad = false;
    if (f('location.lat') === '' || !Number.isFinite(lat) || lat < -90 || lat > 90) { fieldError(form, 'location.lat', 'Latitude must be a number between -90 and 90.'); bad = true; }
    if (f('location.lon') === '' || !Number.isFinite(lon) || lon < -180 || lon > 180) { fieldError(form, 'location.lon', 'Longitude must be a number between -180 and 180.'); bad = true; }
    if (!f('address')) { fieldError(form, 'address', 'Enter the address so responders can find the place.'); bad = true; }
    const eta = f('ems_eta_seconds');
    if (eta !== '' && (!/^\d+$/.test(eta))) { fieldError(form, 'ems_eta_seconds', 'Enter whole minutes.'); bad = true; }
    if (bad) return;
    const body = {
      external_id: f('external_id'), location: { lat, lon }, address: f('address'), reported_at: new Date().toISOString(),
      location_type: f('location_type'), test: true, region: state.region,
    };
    if (eta !== '') body.ems_eta_seconds = Number(eta) * 60;
    if (f('notes')) body.notes = f('notes');
    try {
      const r = await api.post('/api/v1/incidents', body);
      dlg.close();
      location.hash = `#/incidents/${r.id}`;
    } catch (e) {
      if (e.field === 'ems_eta_seconds') e.body.error.field = 'ems_eta_seconds';
      showFormError(form, e, 'Could not start the alert.');
    }
  });
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  form.querySelector('[name="address"]').focus();
}

// ---------- one incident, live ----------
const EVENT_TEXT = {
  created: () => 'Incident received',
  not_alerted: (e) => `Volunteers not alerted: ${e.reason}`,
  wave_sent: (e) => `Wave ${e.wave}: ${e.alerted} alerted within ${fmtDistance(e.radius_m)}`,
  accepted: (e, n) => `${n(e.volunteer)} accepted – ${ROLE_TEXT[e.role] ?? e.role}, ETA ${fmtDuration(e.eta_s)}`,
  declined: (e, n) => `${n(e.volunteer)} declined`,
  timed_out: (e, n) => `${n(e.volunteer)} did not answer`,
  out_of_range: (e, n) => `${n(e.volunteer)} was out of range`,
  stood_down: (e) => `${e.volunteers} volunteer(s) stood down`,
  progress: (e, n) => `${n(e.volunteer)}: ${({ en_route: 'en route', aed_collected: 'AED collected', on_scene: 'on scene', handed_over: 'handed over' })[e.progress] ?? e.progress}`,
  left: (e, n) => `${n(e.volunteer)} withdrew`,
  updated: () => 'Incident updated',
  message: (e) => `Message to responders: “${e.text}”`,
  ended: (e) => `Mission ended${e.reason ? `: ${e.reason}` : ''}`,
  cancelled: (e) => `Mission cancelled${e.reason ? `: ${e.reason}` : ''}`,
};

function incidentView(main, id) {
  document.title = 'Incident – firstlink console';
  let inc = null; const events = []; let lastSeq = 0; let fitted = false; let tick = null;
  const headEl = h('div', { class: 'inc-head' });
  const respEl = h('div', { class: 'responders' });
  const timelineEl = h('ol', { class: 'timeline', 'aria-live': 'polite', 'aria-label': 'Timeline' });
  const actionsEl = h('div', { class: 'stack' });
  const mapEl = h('div', { class: 'big-map' });
  const legend = h('ul', { class: 'legend plain row', 'aria-label': 'Map legend' },
    h('li', null, h('span', { class: 'sw', style: { background: '#c5221f' } }), 'Patient'),
    h('li', null, h('span', { class: 'sw', style: { background: '#146c2e' } }), 'AED'),
    ...['alerted', 'accepted', 'at_aed', 'on_scene'].map((s) => h('li', null, h('span', { class: 'sw round', style: { background: STATE_INFO[s][1] } }), STATE_INFO[s][0])));
  clear(main, h('div', { class: 'split incident' },
    h('section', { class: 'side stack', 'aria-label': 'Incident details' },
      h('a', { href: '#/incidents' }, '← All incidents'), headEl, actionsEl,
      h('section', { 'aria-labelledby': 'resp-h' }, h('h2', { id: 'resp-h' }, 'Responders'), respEl),
      h('section', { 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Timeline'), timelineEl)),
    h('section', { class: 'map-pane', 'aria-label': 'Incident map' }, mapEl, legend)));
  const map = createMap(mapEl, { label: 'Map of the incident: patient, volunteers and AEDs' });
  const layer = L.layerGroup().addTo(map);

  const name = (vid) => inc?.responders.find((r) => r.volunteer_id === vid)?.name || `Volunteer ${String(vid).slice(0, 8)}`;

  async function load() {
    try {
      inc = await api.get(`/api/v1/incidents/${id}`);
      render();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) clear(headEl, h('p', { class: 'banner' }, 'This incident does not exist or is not in your regions.'));
      else clear(headEl, h('p', { class: 'banner' }, `Could not load the incident: ${e.message}`));
    }
  }
  const reload = debounce(load, 150);

  function etaText(iso) {
    const s = secondsUntil(iso);
    if (s == null) return '–';
    return s > 0 ? `in ${fmtDuration(s)} (${fmtTime(iso)})` : `due ${fmtTime(iso)}`;
  }

  function render() {
    const live = inc.status === 'active' || inc.status === 'not_alerted';
    clear(headEl,
      h('div', { class: 'row spread' }, h('h1', null, inc.address), statusPill(inc.status)),
      inc.test ? h('span', { class: 'pill warn' }, 'TEST') : null,
      h('dl', { class: 'facts' },
        h('dt', null, 'Reference'), h('dd', null, inc.external_id),
        h('dt', null, 'Received'), h('dd', null, fmtDateTime(inc.created_at)),
        h('dt', null, 'Ambulance'), h('dd', { class: 'ems-eta' }, inc.ems_eta_at ? etaText(inc.ems_eta_at) : 'unknown'),
        h('dt', null, 'Type'), h('dd', null, inc.location_type.replace('_', ' ')),
        h('dt', null, 'Alert radius'), h('dd', null, `${fmtDistance(inc.radius_m)} · ${inc.waves} wave(s)`),
        inc.notes ? [h('dt', null, 'Notes'), h('dd', null, inc.notes)] : null,
        inc.status_reason ? [h('dt', null, 'Reason'), h('dd', null, inc.status_reason)] : null),
      h('p', { class: 'counts big', 'data-testid': 'counts' },
        h('strong', { 'data-count': 'accepted' }, `${inc.counts.accepted} accepted`), ` · ${inc.counts.pending} waiting · ${inc.counts.declined} declined · ${inc.counts.timed_out} no answer · ${inc.counts.alerted} alerted`));
    // Actions
    if (live) {
      const msgForm = h('form', { class: 'stack', novalidate: true },
        field({ label: 'Message to responders', name: 'text', attrs: { maxlength: '500', placeholder: 'e.g. Entrance from the courtyard' } }),
        h('p', { class: 'form-error', role: 'alert', hidden: true }),
        h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Send message')));
      msgForm.addEventListener('submit', async (ev) => {
        ev.preventDefault(); clearFormErrors(msgForm);
        const text = msgForm.text.value.trim();
        if (!text) return fieldError(msgForm, 'text', 'Write a message first.');
        try { await api.post(`/api/v1/incidents/${id}/messages`, { text }); msgForm.text.value = ''; }
        catch (e) { showFormError(msgForm, e); }
      });
      clear(actionsEl,
        h('div', { class: 'row' },
          h('button', { class: 'danger', 'data-action': 'end', onclick: () => finish('end') }, 'End mission'),
          h('button', { class: 'secondary', 'data-action': 'cancel', onclick: () => finish('cancel') }, 'Cancel alert')),
        msgForm);
    } else clear(actionsEl);
    // Responders
    const rs = [...inc.responders].sort((a, b) => (RESPONDING.has(b.state) - RESPONDING.has(a.state)) || a.distance_m - b.distance_m);
    clear(respEl, rs.length ? h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Volunteer'), h('th', null, 'State'), h('th', null, 'Task'), h('th', null, 'ETA'))),
      h('tbody', null, rs.map((r) => h('tr', { 'data-volunteer': r.volunteer_id, 'data-state': r.state },
        h('td', null, r.name || '(hidden)', h('div', { class: 'muted small' }, `${fmtDistance(r.distance_m)} · wave ${r.wave}`)),
        h('td', null, statePill(r.state)),
        h('td', null, r.role ? ROLE_TEXT[r.role] : '–', r.aed ? h('div', { class: 'muted small' }, `${r.aed.name}, ETA ${fmtTime(r.aed.eta_at)}`) : null),
        h('td', null, r.eta_at ? fmtTime(r.eta_at) : '–')))))
      : h('p', { class: 'muted' }, 'Nobody alerted yet.'));
    // Map
    layer.clearLayers();
    const p = [inc.location.lat, inc.location.lon];
    const pts = [p];
    L.circle(p, { radius: inc.radius_m, color: '#c5221f', weight: 1, fillOpacity: 0.04, interactive: false }).addTo(layer);
    const aeds = new Map();
    for (const r of inc.responders) {
      if (!RESPONDING.has(r.state) && r.state !== 'alerted') continue;
      const [label, color] = STATE_INFO[r.state] ?? [r.state, '#5f6368'];
      if (r.aed && !aeds.has(r.aed.id)) aeds.set(r.aed.id, r.aed);
      if (r.position) {
        const ll = [r.position.lat, r.position.lon]; pts.push(ll);
        dot(ll, { color, label: `${r.name || 'Volunteer'}: ${label}`, size: 16 }).addTo(layer);
        if (RESPONDING.has(r.state)) {
          const path = r.aed && r.state !== 'at_aed' && r.state !== 'on_scene' ? [ll, [r.aed.location.lat, r.aed.location.lon], p] : [ll, p];
          L.polyline(path, { color, weight: 3, dashArray: '6 6', interactive: false }).addTo(layer);
        }
      }
    }
    for (const a of aeds.values()) {
      const ll = [a.location.lat, a.location.lon]; pts.push(ll);
      dot(ll, { color: '#146c2e', label: `AED: ${a.name}`, size: 20, text: '⚡', cls: 'aed' }).addTo(layer);
    }
    dot(p, { color: '#c5221f', label: `Patient: ${inc.address}`, size: 24, text: '✚', cls: 'patient' }).addTo(layer);
    if (!fitted) { map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 17 }); if (pts.length === 1) map.setView(p, 16); fitted = true; }
  }

  function renderTimeline() {
    clear(timelineEl, events.slice().reverse().map((e) => h('li', { 'data-type': e.type },
      h('time', { datetime: e.at }, fmtTime(e.at)), ' ', (EVENT_TEXT[e.type] ?? (() => e.type))(e, name))));
  }

  async function finish(kind) {
    const verb = kind === 'end' ? 'End' : 'Cancel';
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('h2', null, `${verb} this mission?`),
      h('p', null, kind === 'end' ? 'Responders are told the mission is over and thanked.' : 'Responders are told the alert was cancelled.'),
      field({ label: 'Reason (optional)', name: 'reason' }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'danger', 'data-confirm': kind }, `${verb} mission`), h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, 'Back')));
    const dlg = h('dialog', { 'aria-label': `${verb} mission` }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const reason = form.reason.value.trim();
      try {
        inc = await api.post(`/api/v1/incidents/${id}/${kind}`, reason ? { reason } : {});
        dlg.close(); render();
      } catch (e) { showFormError(form, e); }
    });
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg); dlg.showModal();
  }

  const feed = liveFeed(() => `/api/v1/incidents/${id}/events?access_token=${encodeURIComponent(state.session.token)}${lastSeq ? `&since=${lastSeq}` : ''}`, {
    onEvent: (e) => {
      if (e.seq && e.seq <= lastSeq) return;
      lastSeq = e.seq ?? lastSeq;
      events.push(e); renderTimeline(); reload();
    },
    onState: (s) => { if (s === 'live') reload(); },
  });
  // The region feed also carries this incident's events; any event refreshes.
  state.listeners.add((e) => { if (!e.incident_id || e.incident_id === id) reload(); });
  tick = setInterval(() => { if (inc?.ems_eta_at) { const el = headEl.querySelector('.ems-eta'); if (el) el.textContent = etaText(inc.ems_eta_at); } }, 1000);
  load();
  return () => { feed.close(); clearInterval(tick); map.remove(); };
}

// ---------- AED registry ----------
function aedsView(main) {
  document.title = 'AEDs – firstlink console';
  let all = [];
  const openOnly = h('input', { type: 'checkbox', id: 'aed-open' });
  const q = h('input', { type: 'search', id: 'aed-q', placeholder: 'Name or place' });
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const mapEl = h('div', { class: 'big-map' });
  // Coverage, registry health and the review queue are for operators and administrators.
  const operates = isOperator();
  const covEl = operates ? h('div', { class: 'cov-controls', 'data-section': 'coverage' }) : null;
  const panelsEl = operates ? h('div', { class: 'stack reg-panels' }) : null;
  clear(main, h('div', { class: 'split' },
    h('section', { class: 'side stack', 'aria-labelledby': 'aed-h' },
      h('div', { class: 'row spread' }, h('h1', { id: 'aed-h' }, 'AED registry'), h('button', { onclick: () => addAed(map.getCenter()) }, '+ Add AED')),
      h('div', { class: 'row' }, h('label', { for: 'aed-q' }, 'Search'), q),
      h('div', { class: 'row' }, openOnly, h('label', { for: 'aed-open' }, 'Open now only')),
      count,
      h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Access'), h('th', null, 'Open'), h('th', null, 'Code'), operates ? h('th', null, h('span', { class: 'sr-only' }, 'Actions')) : null)), tbody)),
      panelsEl),
    h('section', { class: 'map-pane', 'aria-label': 'AED map' }, covEl, mapEl)));
  const map = createMap(mapEl, { label: 'Map of AEDs' });
  const layer = L.layerGroup().addTo(map);
  const stopCoverage = operates ? coverageLayer(map, covEl, { api, region: state.region }) : null;
  const panels = operates ? registryPanels(panelsEl, { api, region: state.region, aeds: () => all, onChange: () => load() }) : null;
  let fitted = false;
  function render() {
    const term = q.value.trim().toLowerCase();
    const rows = all.filter((a) => (!openOnly.checked || a.open_now) && (!term || a.name.toLowerCase().includes(term)));
    count.textContent = `${rows.length} of ${all.length} AEDs shown`;
    clear(tbody, rows.slice(0, 500).map((a) => h('tr', null,
      h('td', null, a.name, a.level ? h('div', { class: 'muted small' }, `Level ${a.level}`) : null),
      h('td', null, a.access),
      h('td', null, a.open_now == null ? h('span', { class: 'pill' }, 'unknown') : a.open_now ? h('span', { class: 'pill ok' }, 'open') : h('span', { class: 'pill bad' }, 'closed')),
      h('td', null, a.access_code ? h('code', null, a.access_code) : '–'),
      operates ? h('td', null, h('button', { class: 'secondary small-btn', 'data-edit': a.id, 'aria-label': `Edit ${a.name}`, onclick: () => editAed(a) }, 'Edit')) : null)));
    layer.clearLayers();
    const pts = [];
    for (const a of rows) {
      const ll = [a.location.lat, a.location.lon]; pts.push(ll);
      dot(ll, { color: a.open_now === false ? '#5f6368' : '#146c2e', label: `${a.name}${a.open_now === false ? ' (closed)' : ''}`, size: 14, cls: 'aed' }).addTo(layer);
    }
    if (!fitted && pts.length) { map.fitBounds(L.latLngBounds(pts), { maxZoom: 16 }); fitted = true; }
  }
  async function load() {
    try { all = await api.get(`/api/v1/aeds?region=${encodeURIComponent(state.region)}`); render(); }
    catch (e) { count.textContent = `Could not load AEDs: ${e.message}`; }
  }
  async function loadAll() { await load(); await panels?.load(); }
  function addAed(latlng) { aedForm({ location: { lat: latlng.lat, lon: latlng.lng }, access: 'public', status: 'active' }); }
  function editAed(a) { aedForm(a); }
  // One form to add and to edit. An edit sends the AED's id and only the
  // fields shown here (an emptied field as ""): the server merges, so what the
  // form does not show (manufacturer, expiry dates, owner, reminders, other
  // languages of the description…) is kept.
  function aedForm(a) {
    const editing = !!a.id;
    const title = editing ? `Edit ${a.name}` : 'Add an AED';
    const desc = a.location_desc?.find(([l]) => l === 'en') ?? a.location_desc?.[0];
    const form = h('form', { class: 'stack', novalidate: true },
      h('h2', null, title),
      field({ label: 'Name', name: 'name', value: a.name ?? '' }),
      h('div', { class: 'row two' },
        field({ label: 'Latitude', name: 'location.lat', type: 'number', value: a.location.lat.toFixed(6), attrs: { step: 'any' } }),
        field({ label: 'Longitude', name: 'location.lon', type: 'number', value: a.location.lon.toFixed(6), attrs: { step: 'any' } })),
      field({ label: 'Access', name: 'access', value: a.access ?? 'public', options: [['public', 'Public'], ['customers', 'Customers'], ['staff', 'Staff'], ['private', 'Private']] }),
      editing ? field({ label: 'Status', name: 'status', value: a.status ?? 'active', options: [['active', 'Active'], ['inactive', 'Inactive'], ['pending_review', 'Pending review'], ['removed', 'Removed']] }) : null,
      field({ label: 'Opening hours (OpenStreetMap syntax)', name: 'opening_hours', value: a.opening_hours ?? '', hint: 'e.g. 24/7 or Mo-Fr 08:00-18:00' }),
      field({ label: `Where exactly (description${desc && desc[0] !== 'en' ? `, ${desc[0]}` : ''})`, name: 'location_desc', type: 'textarea', value: desc?.[1] ?? '' }),
      field({ label: 'Level / floor', name: 'level', value: a.level ?? '' }),
      field({ label: 'Cabinet access code', name: 'access_code', value: a.access_code ?? '' }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, 'Cancel')));
    const dlg = h('dialog', { 'aria-label': title }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const f = (n) => form.querySelector(`[name="${n}"]`)?.value.trim() ?? '';
      if (!f('name')) return fieldError(form, 'name', 'Enter a name.');
      const body = { name: f('name'), location: { lat: Number(f('location.lat')), lon: Number(f('location.lon')) }, access: f('access'), status: editing ? f('status') : 'active' };
      if (editing) {
        body.id = a.id;
        // Shown fields are sent even when emptied ("" clears); the rest is left to the server's merge.
        body.opening_hours = f('opening_hours'); body.level = f('level'); body.access_code = f('access_code');
        if (f('access_code') && !a.access_code) body.locked = true;
        if (f('location_desc') !== (desc?.[1] ?? '')) {
          const lang = desc?.[0] ?? 'en';
          const others = (a.location_desc ?? []).filter(([l]) => l !== lang);
          body.location_desc = f('location_desc') ? [[lang, f('location_desc')], ...others] : others;
        }
      } else {
        if (f('opening_hours')) body.opening_hours = f('opening_hours');
        if (f('location_desc')) body.location_desc = [['en', f('location_desc')]];
        if (f('level')) body.level = f('level');
        if (f('access_code')) { body.access_code = f('access_code'); body.locked = true; }
      }
      try { await api.post(`/api/v1/aeds?region=${encodeURIComponent(state.region)}`, body); dlg.close(); loadAll(); }
      catch (e) { showFormError(form, e); }
    });
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg); dlg.showModal();
    form.querySelector('[name="name"]').focus();
  }
  map.on('click', (e) => addAed(e.latlng));
  openOnly.addEventListener('change', render);
  q.addEventListener('input', debounce(render, 150));
  loadAll();
  return () => { stopCoverage?.(); map.remove(); };
}

// ---------- volunteers ----------
function volunteersView(main) {
  document.title = 'Volunteers – firstlink console';
  const q = h('input', { type: 'search', id: 'vol-q', placeholder: 'Name, phone or e-mail' });
  const msg = h('p', { class: 'muted', role: 'status' });
  const tbody = h('tbody');
  clear(main, h('section', { class: 'page stack', 'aria-labelledby': 'vol-h' },
    h('h1', { id: 'vol-h' }, 'Volunteers'),
    h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } }, h('label', { for: 'vol-q' }, 'Search'), q, h('button', { type: 'submit' }, 'Search')),
    msg,
    h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, ['Name', 'Contact', 'Tier', 'Training', 'Status', 'Actions'].map((t) => h('th', null, t)))), tbody))));
  async function act(v, body, label) {
    try { await api.patch(`/api/v1/volunteers/${v.id}`, body); msg.textContent = `${v.name}: ${label}.`; load(); }
    catch (e) { msg.textContent = `${v.name}: ${e.message}`; }
  }
  async function load() {
    try {
      const rows = await api.get(`/api/v1/volunteers?region=${encodeURIComponent(state.region)}${q.value.trim() ? `&q=${encodeURIComponent(q.value.trim())}` : ''}&limit=200`);
      msg.textContent = `${rows.length} volunteer(s)`;
      clear(tbody, rows.map((v) => h('tr', null,
        h('td', null, v.name),
        h('td', null, v.phone || '', v.email ? h('div', null, v.email) : null),
        h('td', null, h('select', { 'aria-label': `Tier of ${v.name}`, onchange: (e) => act(v, { tier: e.target.value }, 'tier changed') },
          [['public_only', 'Public places'], ['including_homes', 'Also homes']].map(([val, t]) => h('option', { value: val, selected: v.tier === val }, t)))),
        h('td', null, v.training_date ?? '–'),
        h('td', null, h('div', { class: 'row' },
          v.verified ? h('span', { class: 'pill ok' }, 'verified') : h('span', { class: 'pill warn' }, 'unverified'),
          v.suspended ? h('span', { class: 'pill bad' }, 'suspended') : null,
          v.available ? h('span', { class: 'pill info' }, 'available') : null,
          v.on_mission ? h('span', { class: 'pill bad' }, 'on mission') : null)),
        h('td', null, h('div', { class: 'row' },
          h('button', { class: 'secondary', onclick: () => act(v, { verified: !v.verified }, v.verified ? 'unverified' : 'verified') }, v.verified ? 'Unverify' : 'Verify'),
          h('button', { class: v.suspended ? 'secondary' : 'danger', onclick: () => act(v, { suspended: !v.suspended }, v.suspended ? 'reinstated' : 'suspended') }, v.suspended ? 'Reinstate' : 'Suspend'))))));
    } catch (e) { msg.textContent = `Could not load volunteers: ${e.message}`; }
  }
  load();
}

// ---------- policy ----------
function policyView(main) {
  document.title = 'Policy – firstlink console';
  const wrap = h('div');
  clear(main, h('section', { class: 'page stack', 'aria-labelledby': 'pol-h' }, h('h1', { id: 'pol-h' }, `Dispatch policy – ${regionObj()?.name ?? state.region}`), wrap));
  (async () => {
    let policy;
    try { policy = await api.get(`/api/v1/regions/${encodeURIComponent(state.region)}/policy`); }
    catch (e) { clear(wrap, h('p', { class: 'banner' }, `Could not load the policy: ${e.message}`)); return; }
    const form = h('form', { class: 'card stack policy', novalidate: true });
    const inputs = [];
    for (const [k, v] of Object.entries(policy)) {
      const label = k.replace(/_/g, ' ');
      let el;
      if (typeof v === 'boolean') el = field({ label, name: k, type: 'checkbox', value: v });
      else if (typeof v === 'number') el = field({ label, name: k, type: 'number', value: String(v), attrs: { step: 'any' } });
      else if (typeof v === 'string') el = field({ label, name: k, value: v });
      else el = field({ label: `${label} (JSON)`, name: k, type: 'textarea', value: JSON.stringify(v, null, 1), attrs: { rows: '3', spellcheck: 'false' } });
      inputs.push([k, typeof v === 'object' ? 'json' : typeof v]);
      form.append(el);
    }
    const status = h('p', { role: 'status', class: 'muted' });
    form.append(h('p', { class: 'form-error', role: 'alert', hidden: true }), h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save policy'), status));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form); status.textContent = '';
      const out = {}; let bad = false;
      for (const [k, t] of inputs) {
        const inp = form.querySelector(`[name="${k}"]`);
        if (t === 'boolean') out[k] = inp.checked;
        else if (t === 'number') { const n = Number(inp.value); if (inp.value.trim() === '' || !Number.isFinite(n)) { fieldError(form, k, 'Enter a number.'); bad = true; } else out[k] = n; }
        else if (t === 'json') { try { out[k] = JSON.parse(inp.value); } catch { fieldError(form, k, 'Not valid JSON.'); bad = true; } }
        else out[k] = inp.value;
      }
      if (bad) return;
      try { await api.put(`/api/v1/regions/${encodeURIComponent(state.region)}/policy`, out); status.textContent = 'Saved.'; }
      catch (e) { showFormError(form, e, 'Could not save.'); }
    });
    clear(wrap, form);
  })();
}

// ---------- audit ----------
function auditView(main) {
  document.title = 'Audit log – firstlink console';
  const tbody = h('tbody'); const msg = h('p', { class: 'muted', role: 'status' });
  clear(main, h('section', { class: 'page stack', 'aria-labelledby': 'aud-h' }, h('h1', { id: 'aud-h' }, 'Audit log'), msg,
    h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null, ['When', 'Who', 'Action', 'Target', 'Details'].map((t) => h('th', null, t)))), tbody))));
  api.get(`/api/v1/audit?region=${encodeURIComponent(state.region)}&limit=200`).then((rows) => {
    msg.textContent = `${rows.length} entries`;
    clear(tbody, rows.map((r) => h('tr', null, h('td', null, fmtDateTime(r.at)), h('td', null, r.actor), h('td', null, r.action), h('td', null, r.target ?? ''), h('td', null, h('code', { class: 'small' }, JSON.stringify(r.details))))));
  }).catch((e) => { msg.textContent = `Could not load the audit log: ${e.message}`; });
}

// ---------- boot ----------
if (state.session) start(); else renderLogin();
