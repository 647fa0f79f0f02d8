// Volunteer app (mobile web, installable PWA).
import '../shared/style.css';
import './app.css';
import { h, clear, field, showFormError, clearFormErrors, fieldError, fmtTime, fmtDistance, secondsUntil } from '../shared/dom.js';
import { createClient, liveFeed, ApiError, NetworkError } from '../shared/api.js';
import { createMap, dot, L } from '../shared/map.js';
import { t, initLang, setLang, lang, langForced, LANGS } from './i18n/index.js';
import { openCpr } from './cpr.js';

const TOKEN_KEY = 'firstlink.app.token';
const PENDING_KEY = 'firstlink.app.pending';
const REGION_KEY = 'firstlink.app.region';
const BRAND_KEY = 'firstlink.app.brand'; // the region's brand, so the welcome screen wears it too
const SURVEYED_KEY = 'firstlink.app.surveyed'; // incident ids whose survey was sent from this device
const POLL_MS = 3000;

initLang();

const st = {
  token: localStorage.getItem(TOKEN_KEY),
  me: null,
  brand: null, // the region's brand (name, colours, logo)
  online: true,
  mission: null, // current VolunteerMission
  missionId: null,
  messages: [],
  feed: null,
  lastPos: null, // {lat, lon, accuracy}
  lastSentAt: 0,
  lastSentPos: null,
  watchId: null,
  pushAvailable: null,
  pushOn: false,
  screen: null,
  notifiedFor: null,
  survey: null, // incident id waiting for the survey
  map: null,
};

const api = createClient({
  getToken: () => st.token,
  onUnauthorized: () => { setToken(null); show('welcome'); },
  onNetwork: (ok) => { if (st.online !== ok) { st.online = ok; renderOffline(); } },
});

const root = document.getElementById('root');
const offlineEl = h('div', { class: 'banner offline', role: 'alert', hidden: true });
const screenEl = h('main', { id: 'main', class: 'screen', tabindex: '-1' });
clear(root, offlineEl, screenEl);

function renderOffline() {
  offlineEl.textContent = t('offline');
  offlineEl.hidden = st.online;
}
window.addEventListener('offline', () => { st.online = false; renderOffline(); });
window.addEventListener('online', () => { st.online = true; renderOffline(); poll(); });

function setToken(tok) {
  st.token = tok;
  if (tok) localStorage.setItem(TOKEN_KEY, tok); else localStorage.removeItem(TOKEN_KEY);
}

function regionDefault() {
  return new URLSearchParams(location.search).get('region') || localStorage.getItem(REGION_KEY) || window.FIRSTLINK_REGION || '';
}

// ---------- screens ----------
function show(name, ...args) {
  if (st.map) { st.map.remove(); st.map = null; }
  st.screen = name;
  screenEl.dataset.screen = name;
  const fn = SCREENS[name];
  clear(screenEl);
  fn(...args);
  const h1 = screenEl.querySelector('h1');
  if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
}

function langPicker() {
  const sel = h('select', { id: 'lang', onchange: (e) => { setLang(e.target.value); if (st.token) api.patch('/api/v1/me', { language: e.target.value }).catch(() => {}); show(st.screen === 'home' ? 'home' : st.screen); } },
    Object.entries(LANGS).map(([k, v]) => h('option', { value: k, selected: k === lang() }, v.lang_name)));
  return h('div', { class: 'row lang' }, h('label', { for: 'lang' }, t('language')), sel);
}

const SCREENS = {
  welcome() {
    document.title = 'firstlink';
    screenEl.append(
      h('div', { class: 'hero' }, brandMark('logo'), h('h1', null, brandName()), h('p', null, t('tagline'))),
      h('div', { class: 'stack' },
        h('button', { class: 'big', onclick: () => show('signup') }, t('sign_up')),
        h('button', { class: 'big secondary', onclick: () => show('signin') }, t('sign_in'))),
      langPicker());
  },

  signup() {
    const today = new Date().toISOString().slice(0, 10);
    const form = h('form', { class: 'stack', novalidate: true },
      h('h1', null, t('sign_up')),
      field({ label: t('region'), name: 'region', value: regionDefault(), hint: t('region_hint'), attrs: { autocomplete: 'off', autocapitalize: 'none' } }),
      field({ label: t('name'), name: 'name', attrs: { autocomplete: 'name' } }),
      h('p', { class: 'hint' }, t('contact_hint')),
      field({ label: t('phone'), name: 'phone', type: 'tel', hint: t('phone_hint'), attrs: { autocomplete: 'tel' } }),
      field({ label: t('email'), name: 'email', type: 'email', attrs: { autocomplete: 'email' } }),
      field({ label: t('password'), name: 'password', type: 'password', hint: t('password_hint'), attrs: { autocomplete: 'new-password', minlength: '10' } }),
      field({ label: t('birth_date'), name: 'birth_date', type: 'date', attrs: { max: today } }),
      field({ label: t('language'), name: 'language', value: lang(), options: [['en', 'English'], ['da', 'Dansk'], ['sv', 'Svenska'], ['nb', 'Norsk'], ['fi', 'Suomi'], ['de', 'Deutsch']] }),
      field({ label: t('tier'), name: 'tier', value: 'public_only', options: [['public_only', t('tier_public')], ['including_homes', t('tier_homes')]] }),
      field({ label: t('training_kind'), name: 'training.kind', value: 'bls', options: Object.entries(t('training_kinds')) }),
      field({ label: t('training_date'), name: 'training.date', type: 'date', attrs: { max: today } }),
      field({ label: t('consent'), name: 'consent', type: 'checkbox' }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('button', { type: 'submit', class: 'big' }, t('sign_up')),
      h('button', { type: 'button', class: 'link', onclick: () => show('welcome') }, t('back')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const v = (n) => form.querySelector(`[name="${n}"]`).value.trim();
      let bad = false;
      const need = (n, msg = t('err_required')) => { if (!v(n)) { fieldError(form, n, msg); bad = true; } };
      need('region'); need('name');
      if (!v('phone') && !v('email')) { fieldError(form, 'phone', t('err_contact')); bad = true; }
      if (form.querySelector('[name="password"]').value.length < 10) { fieldError(form, 'password', t('err_password')); bad = true; }
      need('birth_date'); need('training.date');
      if (!form.querySelector('[name="consent"]').checked) { fieldError(form, 'consent', t('err_consent')); bad = true; }
      if (bad) { form.querySelector('[aria-invalid="true"]')?.focus(); return; }
      const body = {
        region: v('region'), name: v('name'), password: form.querySelector('[name="password"]').value,
        language: v('language'), birth_date: v('birth_date'), tier: v('tier'),
        training: { kind: v('training.kind'), date: v('training.date') }, consent: true,
      };
      if (v('phone')) body.phone = v('phone');
      if (v('email')) body.email = v('email');
      try {
        const r = await api.post('/api/v1/volunteers/signup', body);
        localStorage.setItem(REGION_KEY, body.region);
        localStorage.setItem(PENDING_KEY, JSON.stringify(r));
        setLang(body.language);
        show('verify', r);
      } catch (e) { showFormError(form, e, t('err_network')); }
    });
    screenEl.append(form);
  },

  verify(pending) {
    pending = pending || JSON.parse(localStorage.getItem(PENDING_KEY) || 'null');
    if (!pending) return show('welcome');
    const status = h('p', { role: 'status', class: 'muted' });
    const form = h('form', { class: 'stack', novalidate: true },
      h('h1', null, t('verify_title')),
      h('p', null, t('verify_text', { via: pending.verify_via })),
      field({ label: t('code'), name: 'code', attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', pattern: '[0-9]{6}' } }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('button', { type: 'submit', class: 'big' }, t('verify')),
      h('button', { type: 'button', class: 'link', onclick: async () => {
        try { await api.post('/api/v1/volunteers/resend-code', { volunteer_id: pending.volunteer_id }); status.textContent = t('resent'); }
        catch (e) { status.textContent = e.message; }
      } }, t('resend')), status);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const code = form.code.value.replace(/\s/g, '');
      if (!/^\d{6}$/.test(code)) return fieldError(form, 'code', t('err_code'));
      try {
        const r = await api.post('/api/v1/volunteers/verify', { volunteer_id: pending.volunteer_id, code });
        localStorage.removeItem(PENDING_KEY);
        setToken(r.token);
        await enter();
      } catch (e) { showFormError(form, e, t('err_network')); }
    });
    screenEl.append(form);
  },

  signin() {
    const form = h('form', { class: 'stack', novalidate: true },
      h('h1', null, t('sign_in')),
      field({ label: t('region'), name: 'region', value: regionDefault(), attrs: { autocapitalize: 'none' } }),
      field({ label: `${t('phone')} / ${t('email')}`, name: 'login', attrs: { autocomplete: 'username' } }),
      field({ label: t('password'), name: 'password', type: 'password', attrs: { autocomplete: 'current-password' } }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('button', { type: 'submit', class: 'big' }, t('sign_in')),
      h('button', { type: 'button', class: 'link', onclick: () => show('welcome') }, t('back')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const region = form.region.value.trim(); const login = form.login.value.trim(); const password = form.password.value;
      let bad = false;
      if (!region) { fieldError(form, 'region', t('err_required')); bad = true; }
      if (!login) { fieldError(form, 'login', t('err_required')); bad = true; }
      if (!password) { fieldError(form, 'password', t('err_required')); bad = true; }
      if (bad) return;
      const body = { region, password, ...(login.includes('@') ? { email: login } : { phone: login }) };
      try {
        const r = await api.post('/api/v1/volunteers/login', body);
        localStorage.setItem(REGION_KEY, region);
        setToken(r.token);
        await enter();
      } catch (e) {
        if (e.field === 'email' || e.field === 'phone') e.body.error.field = 'login';
        showFormError(form, e, t('err_network'));
      }
    });
    screenEl.append(form);
  },

  home() {
    document.title = brandName();
    const me = st.me;
    const readiness = h('section', { class: 'card stack', 'aria-labelledby': 'ready-h', id: 'readiness' });
    const refresherEl = h('div', { id: 'refresher' });
    const newsEl = h('section', { class: 'card stack news', id: 'news', 'aria-labelledby': 'news-h' }, h('h2', { id: 'news-h' }, t('news')), h('p', { class: 'muted', 'aria-busy': 'true' }, '…'));
    const avail = h('input', { type: 'checkbox', id: 'available', role: 'switch', class: 'switch', checked: !!me?.available });
    const availText = h('p', { class: 'muted', id: 'available-text' }, me?.available ? t('available_on') : t('available_off'));
    const qh = me?.quiet_hours;
    const dndOn = h('input', { type: 'checkbox', id: 'dnd', checked: !!qh });
    const from = h('input', { type: 'time', id: 'dnd-from', value: qh?.start || '22:00' });
    const to = h('input', { type: 'time', id: 'dnd-to', value: qh?.end || '07:00' });
    const dndStatus = h('p', { role: 'status', class: 'muted' });
    const availForm = h('section', { class: 'card stack', 'aria-labelledby': 'avail-h' },
      h('h2', { id: 'avail-h', class: 'sr-only' }, t('available')),
      h('div', { class: 'row spread' }, h('label', { for: 'available', class: 'big-label' }, t('available')), avail),
      availText,
      h('div', { class: 'field field-check', dataset: { field: 'quiet_hours' } }, dndOn, h('label', { for: 'dnd' }, t('dnd')), h('p', { class: 'field-error', role: 'alert', hidden: true })),
      h('div', { class: 'row' }, h('label', { for: 'dnd-from' }, t('dnd_from')), from, h('label', { for: 'dnd-to' }, t('dnd_to')), to,
        h('button', { class: 'secondary', onclick: () => saveAvailability(avail.checked) }, t('save'))),
      dndStatus);
    async function saveAvailability(on) {
      clearFormErrors(availForm);
      const body = { available: on, quiet_hours: dndOn.checked ? { start: from.value, end: to.value } : null };
      try {
        st.me = await api.put('/api/v1/me/availability', body).then(() => api.get('/api/v1/me'));
        avail.checked = st.me.available;
        availText.textContent = st.me.available ? t('available_on') : t('available_off');
        dndStatus.textContent = t('saved');
        if (st.me.available) startPosition();
        renderReadiness(readiness);
      } catch (e) { avail.checked = !on; showFormError(availForm, e); if (!e.field) dndStatus.textContent = e.message; }
    }
    avail.addEventListener('change', () => saveAvailability(avail.checked));
    screenEl.append(
      h('header', { class: 'row spread app-head' }, h('span', { class: 'brand' }, brandMark('brand-logo'), ' ', brandName()), h('span', { class: 'muted' }, me?.name ?? '')),
      refresherEl,
      availForm,
      readiness,
      h('p', { class: 'waiting', 'aria-live': 'polite' }, me?.available ? t('waiting') : ''),
      newsEl,
      h('div', { class: 'row' }, langPicker(), h('button', { class: 'link', id: 'history-btn', onclick: () => show('history') }, t('history')),
        h('button', { class: 'link', onclick: () => openCpr(t) }, t('cpr_helper')),
        h('button', { class: 'link', onclick: async () => { await api.post('/api/v1/me/logout').catch(() => {}); setToken(null); stopPosition(); show('welcome'); } }, t('sign_out'))));
    renderReadiness(readiness);
    renderRefresher(refresherEl);
    renderNews(newsEl);
  },

  alert(m) {
    document.title = `⚠ ${t('alert_title')}`;
    const left = h('p', { class: 'countdown', 'aria-live': 'off' });
    const tick = () => { const s = secondsUntil(m.answer_by); left.textContent = t('answer_within', { t: `${Math.max(0, Math.floor(s))} ${t('seconds')}` }); };
    tick();
    const timer = setInterval(() => { if (st.screen !== 'alert') return clearInterval(timer); tick(); }, 1000);
    const msg = h('p', { role: 'status', class: 'muted' });
    const accept = h('button', { class: 'big ok', id: 'accept', onclick: async () => {
      accept.disabled = true;
      try {
        const body = st.lastPos ? { position: { lat: st.lastPos.lat, lon: st.lastPos.lon } } : {};
        const r = await api.post(`/api/v1/missions/${m.incident_id}/accept`, body);
        st.mission = r.mission;
        if (r.mission.state && ['accepted', 'en_route', 'at_aed', 'on_scene', 'handed_over'].includes(r.mission.state)) {
          openMissionFeed(m.incident_id); show('task');
        } else { msg.textContent = t(`accepted_outcome.${r.outcome}`) ; setTimeout(() => show('home'), 4000); }
      } catch (e) { accept.disabled = false; msg.textContent = e.message; }
    } }, t('accept'));
    screenEl.append(h('section', { class: 'alert-screen', role: 'alertdialog', 'aria-labelledby': 'alert-h', 'aria-describedby': 'alert-d' },
      m.test ? h('p', { class: 'pill warn' }, t('alert_test')) : null,
      h('h1', { id: 'alert-h' }, t('alert_title')),
      h('p', { id: 'alert-d', class: 'alert-dist' }, t('alert_distance', { d: fmtDistance(m.distance_m), t: `${Math.max(1, Math.round(m.eta_s / 60))} ${t('minutes')}` })),
      left,
      h('div', { class: 'stack' }, accept,
        h('button', { class: 'big secondary', id: 'decline', onclick: async () => {
          try { await api.post(`/api/v1/missions/${m.incident_id}/decline`); } catch { /* shown by poll */ }
          st.mission = null; show('home');
        } }, t('decline'))),
      msg));
  },

  task() {
    const m = st.mission;
    document.title = `${t('alert_title')} – firstlink`;
    const task = m.task;
    const aed = task?.aed;
    const collected = ['at_aed', 'on_scene', 'handed_over'].includes(m.state);
    const goAed = task?.role === 'fetch_aed' && aed && !collected;
    const target = goAed ? aed.location : m.location;
    const mapEl = h('div', { class: 'task-map' });
    const progress = async (status) => {
      try { const r = await api.post(`/api/v1/missions/${m.incident_id}/status`, { status }); st.mission = r?.incident_id ? r : await api.get(`/api/v1/missions/${m.incident_id}`); show('task'); }
      catch (e) { alertMsg(e.message); }
    };
    const msgs = h('ul', { class: 'messages', 'aria-live': 'assertive', id: 'messages' });
    const renderMsgs = () => clear(msgs, st.messages.length ? st.messages.map((x) => h('li', null, h('time', null, fmtTime(x.at)), ' ', x.text)) : h('li', { class: 'muted' }, t('no_messages')));
    renderMsgs();
    st.renderMsgs = renderMsgs;
    screenEl.append(
      h('section', { class: `task-head ${task?.role ?? ''}` },
        m.test ? h('span', { class: 'pill warn' }, t('alert_test')) : null,
        h('h1', { id: 'task-h' }, task ? t(`task_${task.role}`) : t('alert_title')),
        h('p', { class: 'addr' }, h('strong', null, `${t('address')}: `), m.address ?? '–'),
        task ? h('p', null, t('eta', { t: fmtTime(task.eta_at) })) : null,
        m.ems_eta_at ? h('p', null, t('ambulance', { t: fmtTime(m.ems_eta_at) })) : null,
        m.notes ? h('p', { class: 'notes' }, m.notes) : null),
      h('div', { class: 'row nav-links' },
        h('a', { class: 'btn big', id: 'open-maps', href: geoUri(target, goAed ? aed.name : m.address) }, goAed ? t('to_aed') : t('to_patient')),
        h('a', { class: 'btn secondary', href: webRoute(target), target: '_blank', rel: 'noopener' }, t('open_web_maps'))),
      aed ? h('section', { class: 'card aed-card stack', 'aria-labelledby': 'aed-h', id: 'aed-card' },
        h('h2', { id: 'aed-h' }, `⚡ ${t('aed')}: ${aed.name}`),
        aed.access_code ? h('p', { class: 'code' }, h('span', null, `${t('aed_code')}: `), h('strong', { id: 'aed-code' }, aed.access_code)) : null,
        aed.description ? h('p', null, h('strong', null, `${t('aed_place')}: `), aed.description) : null,
        aed.level ? h('p', null, `${t('aed_level')}: ${aed.level}`) : null,
        h('p', null, t('eta', { t: fmtTime(aed.eta_at) }))) : null,
      mapEl,
      h('section', { class: 'card stack', 'aria-labelledby': 'msg-h' }, h('h2', { id: 'msg-h' }, t('messages')), msgs),
      h('div', { class: 'stack progress-buttons' },
        task?.role === 'fetch_aed' && !collected ? h('button', { class: 'big', onclick: () => progress('aed_collected') }, t('st_aed_collected')) : null,
        !['on_scene', 'handed_over'].includes(m.state) ? h('button', { class: 'big', onclick: () => progress('on_scene') }, t('st_on_scene')) : null,
        m.state !== 'handed_over' ? h('button', { class: 'big secondary', onclick: () => progress('handed_over') }, t('st_handed_over')) : null,
        h('button', { class: 'big cpr-btn', onclick: () => openCpr(t) }, `♥ ${t('cpr_helper')}`)),
      h('section', { class: 'card', 'aria-labelledby': 'oth-h' }, h('h2', { id: 'oth-h' }, t('others')),
        m.responders?.length ? h('ul', { class: 'plain-list' }, m.responders.map((r) => h('li', null, `${r.name} – ${t(`role.${r.role}`)} – ${t(`state.${r.state}`)}${r.eta_at ? ` (${fmtTime(r.eta_at)})` : ''}`)))
          : h('p', { class: 'muted' }, t('nobody_else'))),
      h('p', { class: 'status-line', role: 'status', id: 'task-status' }),
      h('button', { class: 'link', onclick: async () => { if (!confirm(t('leave_confirm'))) return; try { await api.post(`/api/v1/missions/${m.incident_id}/leave`); } catch { /* ignore */ } closeMissionFeed(); st.mission = null; show('home'); } }, t('leave')));
    // Map: patient, AED, me.
    const map = createMap(mapEl, { label: `${t('patient')} / ${t('aed')}` });
    st.map = map;
    const pts = [];
    if (m.location) { const p = [m.location.lat, m.location.lon]; pts.push(p); dot(p, { color: '#c5221f', label: t('patient'), size: 24, text: '✚', cls: 'patient' }).addTo(map); }
    if (aed) { const a = [aed.location.lat, aed.location.lon]; pts.push(a); dot(a, { color: '#146c2e', label: `${t('aed')}: ${aed.name}`, size: 22, text: '⚡', cls: 'aed' }).addTo(map); }
    if (st.lastPos) { const me = [st.lastPos.lat, st.lastPos.lon]; pts.push(me); dot(me, { color: '#0b57d0', label: t('you'), size: 16 }).addTo(map); }
    if (pts.length > 1) {
      const route = st.lastPos ? (goAed ? [[st.lastPos.lat, st.lastPos.lon], pts[1], pts[0]] : [[st.lastPos.lat, st.lastPos.lon], pts[0]]) : pts.slice().reverse();
      L.polyline(route, { color: '#0b57d0', weight: 4, dashArray: '6 8' }).addTo(map);
      map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 17 });
    } else if (pts.length) map.setView(pts[0], 16);
  },

  ended(info) {
    const id = info?.incident_id ?? st.survey;
    const wasResponding = info?.responding ?? true;
    const back = info?.back ?? 'home';
    document.title = 'firstlink';
    const form = h('form', { class: 'stack', novalidate: true });
    const yn = (name) => field({ label: t(name), name, value: '', options: [['', '–'], ['true', t('yes')], ['false', t('no')]] });
    form.append(
      h('h2', null, t('survey')), yn('arrived'), yn('gave_cpr'), yn('used_aed'),
      h('fieldset', { class: 'field', 'data-field': 'impact' }, h('legend', null, t('impact')),
        ['none', 'mild', 'moderate', 'severe'].map((v) => h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'impact', value: v }), t(`impact_${v}`))),
        h('p', { class: 'field-error', role: 'alert', hidden: true })),
      field({ label: t('wants_contact'), name: 'wants_contact', type: 'checkbox' }),
      field({ label: t('comments'), name: 'comments', type: 'textarea' }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('button', { type: 'submit', class: 'big' }, t('send')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const impact = form.querySelector('[name="impact"]:checked')?.value;
      if (!impact) return fieldError(form, 'impact', t('err_required'));
      const b = (n) => { const v = form.querySelector(`[name="${n}"]`).value; return v === '' ? undefined : v === 'true'; };
      const body = { impact, wants_contact: form.querySelector('[name="wants_contact"]').checked, arrived: b('arrived'), gave_cpr: b('gave_cpr'), used_aed: b('used_aed') };
      const c = form.querySelector('[name="comments"]').value.trim(); if (c) body.comments = c;
      try {
        const r = await api.post(`/api/v1/missions/${id}/survey`, body);
        st.survey = null;
        remember(SURVEYED_KEY, id, true);
        clear(form, h('p', { class: 'card support', role: 'status' }, r?.support || t('support_default')), h('button', { type: 'button', class: 'big', onclick: () => show(back) }, t('done')));
      } catch (e) { showFormError(form, e, t('err_network')); }
    });
    screenEl.append(
      h('section', { class: 'ended stack' },
        h('h1', { id: 'ended-h' }, t('ended_title')),
        h('p', { class: 'thanks' }, t('thanks')),
        info?.reason ? h('p', { class: 'muted' }, info.reason) : null),
      wasResponding && id ? form : h('button', { class: 'big', onclick: () => show(back) }, t('done')),
      h('p', { class: 'muted' }, t('support_default')),
      back !== 'home' ? h('button', { class: 'link', onclick: () => show(back) }, t('back')) : null);
  },

  history() {
    document.title = `${t('history')} – firstlink`;
    const list = h('ul', { class: 'history-list', id: 'history', 'aria-busy': 'true' });
    const status = h('p', { class: 'muted', role: 'status' });
    screenEl.append(
      h('header', { class: 'row spread app-head history-head' }, h('h1', { id: 'history-h' }, t('history')),
        h('button', { class: 'link', onclick: () => show('home') }, t('back'))),
      status, list);
    api.get('/api/v1/me/missions').then((rows) => {
      if (st.screen !== 'history') return;
      list.removeAttribute('aria-busy');
      rows = (rows || []).slice().sort((a, b) => Date.parse(b.alerted_at) - Date.parse(a.alerted_at));
      if (!rows.length) { status.textContent = t('history_empty'); return; }
      const surveyed = recall(SURVEYED_KEY);
      clear(list, rows.map((r) => {
        const tookPart = RESPONDING.includes(r.state) || r.state === 'left';
        const finished = r.status === 'ended' || r.status === 'cancelled';
        const role = r.role;
        const when = new Date(r.alerted_at);
        return h('li', { class: `card history-item ${tookPart ? 'took-part' : ''}`, dataset: { incident: r.incident_id, state: r.state, status: r.status } },
          h('div', { class: 'row spread' },
            h('time', { datetime: r.alerted_at, class: 'when' }, when.toLocaleString(lang(), { dateStyle: 'medium', timeStyle: 'short' })),
            h('span', { class: `pill outcome ${tookPart ? 'ok' : ''}` }, t(`state.${r.state}`))),
          role && tookPart ? h('p', { class: 'role' }, t('history_task', { role: t(`role.${role}`) })) : null,
          h('p', { class: 'muted' }, t('history_status', { status: t(`mission_status.${r.status}`) })),
          tookPart && finished && surveyed[r.incident_id] ? h('p', { class: 'muted survey-sent' }, t('history_survey_sent')) : null,
          tookPart && finished ? h('a', { href: `#survey-${r.incident_id}`, class: 'survey-link',
            onclick: (e) => { e.preventDefault(); st.survey = r.incident_id; show('ended', { incident_id: r.incident_id, responding: true, back: 'history' }); } }, t('history_survey')) : null);
      }));
    }).catch((e) => { list.removeAttribute('aria-busy'); status.textContent = e instanceof NetworkError ? t('err_network') : e.message; });
  },
};

const RESPONDING = ['accepted', 'en_route', 'at_aed', 'on_scene', 'handed_over'];

/** Small per-device memory (capped at 100 entries) for what the history API does not return. */
function recall(key) { try { return JSON.parse(localStorage.getItem(key)) || {}; } catch { return {}; } }
function remember(key, id, value) {
  const o = recall(key);
  if (o[id] === value) return;
  delete o[id]; o[id] = value;
  const ks = Object.keys(o); for (const k of ks.slice(0, Math.max(0, ks.length - 100))) delete o[k];
  try { localStorage.setItem(key, JSON.stringify(o)); } catch { /* ignore */ }
}

function alertMsg(text) { const el = document.getElementById('task-status'); if (el) el.textContent = text; }

function geoUri(loc, label) {
  if (!loc) return '#';
  // geo: opens the phone's maps app (Android; iOS ignores it, hence the web link too).
  return `geo:${loc.lat},${loc.lon}?q=${loc.lat},${loc.lon}(${encodeURIComponent(label || '')})`;
}
function webRoute(loc) {
  if (!loc) return '#';
  return `https://www.openstreetmap.org/directions?engine=fossgis_osrm_foot&route=${st.lastPos ? `${st.lastPos.lat}%2C${st.lastPos.lon}` : ''}%3B${loc.lat}%2C${loc.lon}`;
}

// ---------- region brand ----------
// The region's name, colours and logo (GET /api/v1/me/branding), remembered on
// the device so that the welcome screen wears them too. Colours become CSS
// variables (--accent: buttons, --brand: the name); the server has checked
// their contrast. The logo is a data: URL of a PNG or WebP image.
function cachedBrand() { try { return JSON.parse(localStorage.getItem(BRAND_KEY)) || null; } catch { return null; } }
function brandName() { return st.brand?.custom ? st.brand.display_name : t('app_name'); }
function brandMark(cls) {
  if (st.brand?.logo) return h('img', { class: cls === 'logo' ? 'hero-logo' : 'brand-logo', src: st.brand.logo, alt: '' });
  return h(cls === 'logo' ? 'div' : 'span', { class: cls === 'logo' ? 'logo' : 'heart', 'aria-hidden': 'true' }, '♥');
}
function applyBrand(b) {
  st.brand = b && typeof b === 'object' ? b : null;
  const css = document.documentElement.style;
  const hex = (c) => (typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c) ? c : null);
  if (hex(st.brand?.primary_color)) css.setProperty('--accent', st.brand.primary_color); else css.removeProperty('--accent');
  if (hex(st.brand?.accent_color)) css.setProperty('--brand', st.brand.accent_color); else css.removeProperty('--brand');
  document.querySelector('meta[name="theme-color"]')?.setAttribute('content', hex(st.brand?.primary_color) || '#b3261e');
  document.documentElement.dataset.brand = st.brand?.region || '';
  try { if (st.brand) localStorage.setItem(BRAND_KEY, JSON.stringify(st.brand)); else localStorage.removeItem(BRAND_KEY); } catch { /* storage full: the brand is only not remembered */ }
}
async function loadBrand() {
  try { applyBrand(await api.get('/api/v1/me/branding')); } catch { /* keep the remembered brand */ }
}

// ---------- between missions: CPR refresher and news ----------
function fmtDay(d) {
  return d ? new Date(`${d}T12:00:00`).toLocaleDateString(lang(), { dateStyle: 'long' }) : '–';
}

/** A reminder when the CPR training is due within 30 days or overdue, with a form for the new date. */
async function renderRefresher(el) {
  let r;
  try { r = await api.get('/api/v1/me/refresher'); } catch { return; }
  if (!el.isConnected) return;
  if (!['due_soon', 'overdue'].includes(r?.state)) { clear(el); return; }
  const today = new Date().toISOString().slice(0, 10);
  const form = h('form', { class: 'stack', novalidate: true },
    field({ label: t('training_date'), name: 'training.date', type: 'date', attrs: { max: today } }),
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    h('button', { type: 'submit', class: 'secondary' }, t('refresher_save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault(); clearFormErrors(form);
    const d = form.querySelector('[name="training.date"]').value;
    if (!d) return fieldError(form, 'training.date', t('err_required'));
    if (d > today) return fieldError(form, 'training.date', t('err_future'));
    try {
      st.me = await api.patch('/api/v1/me', { training: { kind: st.me?.training_kind || 'bls', date: d } });
      clear(el, h('p', { class: 'card refresher-done', role: 'status' }, t('refresher_saved')));
    } catch (e) { showFormError(form, e, t('err_network')); }
  });
  clear(el, h('section', { class: `card stack refresher ${r.state}`, 'aria-labelledby': 'refresher-h', dataset: { state: r.state } },
    h('h2', { id: 'refresher-h' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), t('refresher_title')),
    h('p', { class: 'refresher-text' }, t(`refresher_${r.state}`, { date: fmtDay(r.training_date), due: fmtDay(r.due_on) })),
    h('p', { class: 'hint' }, t('refresher_hint')),
    form));
}

function httpUrl(u) {
  try { const x = new URL(u); return x.protocol === 'https:' || x.protocol === 'http:' ? x.href : null; } catch { return null; }
}

/** The region's news and training items (GET /api/v1/me/news): plain text only, links open in a new tab. */
async function renderNews(el) {
  const head = () => h('h2', { id: 'news-h' }, t('news'));
  let n;
  try { n = await api.get('/api/v1/me/news'); } catch (e) {
    if (el.isConnected) clear(el, head(), h('p', { class: 'muted' }, e instanceof NetworkError ? t('err_network') : e.message));
    return;
  }
  if (!el.isConnected) return;
  const items = Array.isArray(n?.items) ? n.items : [];
  const failed = (n?.feeds ?? []).some((f) => !f.ok);
  clear(el, head(),
    items.length ? h('ul', { class: 'news-list' }, items.map((i) => {
      const link = httpUrl(i.link);
      return h('li', { class: 'news-item', dataset: { kind: i.kind } },
        h('p', { class: 'news-meta' }, h('span', { class: `pill ${i.kind === 'training' ? 'ok' : 'info'}` }, t(`news_kind.${i.kind === 'training' ? 'training' : 'news'}`)), ' ',
          h('span', { class: 'muted' }, String(i.feed ?? '')),
          i.published ? [h('span', { class: 'muted' }, ' · '), h('time', { class: 'muted', datetime: i.published }, new Date(i.published).toLocaleDateString(lang(), { dateStyle: 'medium' }))] : null),
        h('h3', null, link
          ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, String(i.title ?? ''), h('span', { class: 'sr-only' }, ` ${t('new_tab')}`))
          : String(i.title ?? '')),
        i.summary ? h('p', null, String(i.summary)) : null);
    })) : h('p', { class: 'muted' }, t('news_empty')),
    failed ? h('p', { class: 'hint news-failed' }, t('news_some_failed')) : null);
}

// ---------- readiness ----------
async function permissionState(name) {
  try { return (await navigator.permissions.query({ name })).state; } catch { return 'prompt'; }
}

async function renderReadiness(el) {
  const items = [];
  const geo = await permissionState('geolocation');
  items.push({ key: 'location', ok: geo === 'granted', text: geo === 'granted' ? t('r_location_ok') : t('r_location_fix'),
    action: geo === 'prompt' ? [t('r_location_btn'), () => { startPosition(true); }] : null });
  const notif = typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  items.push({ key: 'notify', ok: notif === 'granted', text: notif === 'granted' ? t('r_notify_ok') : t('r_notify_fix'),
    action: notif === 'default' ? [t('r_notify_btn'), async () => { await Notification.requestPermission(); await setupPush(); renderReadiness(el); }] : null });
  items.push({ key: 'push', ok: !!st.pushOn, warn: !st.pushOn, text: st.pushOn ? t('r_push_ok') : t('r_push_none') });
  const posAt = st.lastSentAt || (st.me?.position ? new Date(st.me.position.at).getTime() : 0);
  const fresh = posAt && Date.now() - posAt < 10 * 60 * 1000;
  const ago = posAt ? (Date.now() - posAt < 60000 ? t('ago_s') : t('ago_m', { n: Math.round((Date.now() - posAt) / 60000) })) : '';
  items.push({ key: 'position', ok: !!fresh, text: fresh ? t('r_position_ok', { ago }) : t('r_position_fix') });
  items.push({ key: 'available', ok: !!st.me?.available, text: st.me?.available ? t('r_available_ok') : t('r_available_fix') });
  items.push({ key: 'eligible', ok: !!st.me?.eligible || !st.me?.available, text: st.me?.eligible || !st.me?.available ? t('r_eligible_ok') : t('r_eligible_fix') });
  const allOk = items.every((i) => i.ok || i.warn);
  clear(el,
    h('h2', { id: 'ready-h' }, t('readiness')),
    h('p', { class: `ready-sum ${allOk ? 'ok' : 'bad'}`, 'data-ready': String(allOk) }, allOk ? t('ready_all') : t('ready_not')),
    h('ul', { class: 'checks' }, items.map((i) => h('li', { class: i.ok ? 'ok' : i.warn ? 'warn' : 'bad', 'data-check': i.key, 'data-ok': String(i.ok) },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, i.ok ? '✓' : i.warn ? '!' : '✗'),
      h('div', null, h('strong', null, t(`r_${i.key}`)), h('span', { class: 'sr-only' }, i.ok ? ': OK. ' : ': needs attention. '), h('div', null, i.text),
        i.action ? h('button', { class: 'secondary small-btn', onclick: i.action[1] }, i.action[0]) : null)))));
}

// ---------- position ----------
function startPosition(ask) {
  if (!('geolocation' in navigator)) return;
  if (st.watchId != null && !ask) return;
  if (st.watchId != null) navigator.geolocation.clearWatch(st.watchId);
  st.watchId = navigator.geolocation.watchPosition((p) => {
    st.lastPos = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy };
    maybeSendPosition();
  }, () => { refreshReadiness(); }, { enableHighAccuracy: true, maximumAge: 15000, timeout: 30000 });
}
function stopPosition() { if (st.watchId != null) navigator.geolocation.clearWatch(st.watchId); st.watchId = null; }

function distM(a, b) {
  const R = 6371000; const toR = Math.PI / 180;
  const dLat = (b.lat - a.lat) * toR; const dLon = (b.lon - a.lon) * toR;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * toR) * Math.cos(b.lat * toR) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(x));
}

async function maybeSendPosition(force) {
  if (!st.token || !st.lastPos || !st.me?.available) return;
  const moved = st.lastSentPos ? distM(st.lastSentPos, st.lastPos) : Infinity;
  if (!force && Date.now() - st.lastSentAt < 30000 && moved < 50) return;
  try {
    const body = { lat: st.lastPos.lat, lon: st.lastPos.lon };
    if (Number.isFinite(st.lastPos.accuracy)) body.accuracy_m = st.lastPos.accuracy;
    await api.post('/api/v1/me/position', body);
    st.lastSentAt = Date.now(); st.lastSentPos = { ...st.lastPos };
    refreshReadiness();
  } catch { /* retried on next fix */ }
}
function refreshReadiness() { const el = document.getElementById('readiness'); if (el && st.screen === 'home') renderReadiness(el); }

// ---------- push ----------
async function registerSw() {
  if (!('serviceWorker' in navigator)) return null;
  try { return await navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }); } catch { return null; }
}

function b64ToBytes(s) {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const raw = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function setupPush() {
  try {
    const { public_key: key } = await api.get('/api/v1/push/vapid-public-key');
    st.pushAvailable = !!key;
    if (!key || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    const reg = await navigator.serviceWorker?.ready;
    if (!reg?.pushManager) return;
    const sub = (await reg.pushManager.getSubscription()) || (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) }));
    const j = sub.toJSON();
    await api.post('/api/v1/me/devices', { channel: 'web_push', endpoint: j.endpoint, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth } });
    st.pushOn = true;
  } catch { st.pushOn = false; }
}

async function urgentNotification(m) {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted' || st.notifiedFor === m.incident_id) return;
  st.notifiedFor = m.incident_id;
  try {
    const reg = await navigator.serviceWorker?.getRegistration('/app/');
    reg?.active?.postMessage({ type: 'alert', title: t('alert_title'), body: t('alert_distance', { d: fmtDistance(m.distance_m), t: `${Math.max(1, Math.round(m.eta_s / 60))} ${t('minutes')}` }), incident_id: m.incident_id });
  } catch { /* ignore */ }
  if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 800]);
}

// ---------- mission feed ----------
function openMissionFeed(id) {
  if (st.missionId === id && st.feed) return;
  closeMissionFeed();
  st.missionId = id; st.messages = [];
  let lastSeq = 0;
  st.feed = liveFeed(() => `/api/v1/incidents/${id}/events?access_token=${encodeURIComponent(st.token)}${lastSeq ? `&since=${lastSeq}` : ''}`, {
    onEvent: (e) => {
      if (e.seq && e.seq <= lastSeq) return;
      lastSeq = e.seq ?? lastSeq;
      if (e.type === 'message') { st.messages.push(e); st.renderMsgs?.(); if (navigator.vibrate) navigator.vibrate(200); }
      if (e.type === 'ended' || e.type === 'cancelled') missionOver(id, e.reason);
      else if (['accepted', 'progress', 'left', 'updated'].includes(e.type)) refreshMission();
    },
  });
}
function closeMissionFeed() { st.feed?.close(); st.feed = null; st.missionId = null; }

async function refreshMission() {
  if (!st.mission || st.screen !== 'task') return;
  try {
    const m = await api.get(`/api/v1/missions/${st.mission.incident_id}`);
    if (m.status === 'ended' || m.status === 'cancelled') return missionOver(m.incident_id);
    const changed = JSON.stringify(m) !== JSON.stringify(st.mission);
    st.mission = m;
    if (changed && st.screen === 'task') { const y = window.scrollY; show('task'); window.scrollTo(0, y); }
  } catch { /* offline banner */ }
}

function missionOver(id, reason) {
  if (st.screen === 'ended') return;
  const responding = !!st.mission && ['accepted', 'en_route', 'at_aed', 'on_scene', 'handed_over'].includes(st.mission.state);
  closeMissionFeed();
  st.mission = null; st.survey = id;
  show('ended', { incident_id: id, reason, responding });
}

// ---------- polling ----------
let pollTimer = null;
async function poll() {
  clearTimeout(pollTimer);
  if (!st.token) return;
  try {
    const m = await api.get('/api/v1/me/alert');
    if (m) {
      if (m.state === 'alerted') {
        if (st.screen !== 'alert') { urgentNotification(m); show('alert', m); }
      } else if (['accepted', 'en_route', 'at_aed', 'on_scene', 'handed_over'].includes(m.state)) {
        const changed = JSON.stringify(m) !== JSON.stringify(st.mission);
        st.mission = m;
        openMissionFeed(m.incident_id);
        if (st.screen !== 'task' || changed) { const y = window.scrollY; show('task'); if (st.screen === 'task') window.scrollTo(0, y); }
      }
    } else if (st.screen === 'task' && st.mission) {
      const id = st.mission.incident_id;
      try { const mm = await api.get(`/api/v1/missions/${id}`); missionOver(id, mm.status); } catch { missionOver(id); }
    } else if (st.screen === 'alert') {
      show('home');
    }
    if (st.screen === 'home') maybeSendPosition();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
  }
  pollTimer = setTimeout(poll, document.hidden ? POLL_MS * 2 : POLL_MS);
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });

async function enter() {
  try {
    st.me = await api.get('/api/v1/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    clear(screenEl, h('div', { class: 'card stack' }, h('h1', null, 'firstlink'), h('p', null, e instanceof NetworkError ? t('err_network') : e.message), h('button', { class: 'big', onclick: () => enter() }, t('back'))));
    setTimeout(enter, 5000);
    return;
  }
  if (st.me.language && LANGS[st.me.language] && !langForced()) setLang(st.me.language);
  await loadBrand();
  await setupPush();
  if (st.me.available) startPosition();
  show('home');
  poll();
  setInterval(refreshReadiness, 30000);
}

applyBrand(cachedBrand());
registerSw();
if (st.token) enter();
else if (localStorage.getItem(PENDING_KEY)) show('verify');
else show('welcome');
