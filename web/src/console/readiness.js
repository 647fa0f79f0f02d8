// AED readiness monitoring: fleet summary, readiness map, service tickets,
// monitoring units, and per AED/unit the readiness history, status light,
// battery and a temperature chart (inline SVG). Polls every 10 s (the
// server publishes no monitoring events on the live feed).
import { h, clear, field, showFormError, clearFormErrors, fieldError, fmtDateTime, fmtTime } from '../shared/dom.js';
import { ApiError } from '../shared/api.js';
import { createMap, dot, L } from '../shared/map.js';
import { t, label, lang } from './i18n.js';

const REFRESH_MS = 10000;
/** Public AED positions (technicians' fallback) are rate-limited: re-read every 5 min. */
const PUBLIC_REFRESH_MS = 5 * 60 * 1000;
const BUCKET_MS = 15 * 60 * 1000;
const OP_MIN = 0; const OP_MAX = 50;

/** Most severe first, as the summary lists them. */
export const READINESS_ORDER = ['not_ready', 'missing', 'at_risk', 'unknown', 'maintenance_due', 'ready', 'unmonitored'];
const SEVERITY = { missing: 6, not_ready: 5, at_risk: 4, unknown: 3, maintenance_due: 2, ready: 1, unmonitored: 0 };
/** White text on each of these has a contrast of at least 5.4:1 (unmonitored is drawn light with dark text). */
export const READINESS_COLOR = {
  ready: '#146c2e', maintenance_due: '#7a5c00', at_risk: '#b3470b', unknown: '#5f6368',
  not_ready: '#b3261e', missing: '#6a1b9a', unmonitored: '#80868b',
};
/** A glyph per state, so the map does not rely on colour alone. */
const GLYPH = { ready: '✓', maintenance_due: 'M', at_risk: '!', unknown: '?', not_ready: '✕', missing: '∅', unmonitored: '' };
const LIGHT_COLOR = { ok: '#146c2e', fault: '#b3261e', off: '#202124', unknown: '#80868b' };
const TICKET_CLASS = { open: 'bad', acknowledged: 'warn', normal_again: 'ok', resolved: '' };

export function readinessPill(r) {
  const key = r || 'unmonitored';
  const attrs = { class: `pill rd-pill rd-${key}`, 'data-readiness': key, title: label('readiness_hint', key) };
  return h('span', attrs, label('readiness', key));
}

function ticketPill(s) { return h('span', { class: `pill ${TICKET_CLASS[s] ?? ''}`, 'data-ticket-status': s }, label('ticket_status', s)); }

function fmtAge(min) {
  const m = Math.max(0, Math.round(min));
  if (m < 60) return t('ago.min', { n: m });
  if (m < 48 * 60) return t('ago.h', { h: Math.floor(m / 60), m: m % 60 });
  return t('ago.d', { d: Math.floor(m / 1440), h: Math.floor((m % 1440) / 60) });
}

function fmtInterval(s) {
  if (s == null) return '–';
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

const forbidden = (e) => e instanceof ApiError && e.status === 403;

/** Re-renders `el` with `fn`, keeping the focus on the element with the same data-focus key. */
function keepFocus(el, fn) {
  const a = document.activeElement;
  const key = a && el.contains(a) ? a.dataset?.focus : null;
  fn();
  if (key) el.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

/**
 * The readiness section. `ctx`: { api, region, role, selected } where
 * `selected` is an AED id from the URL (#/readiness/<aed id>).
 */
export function readinessView(main, { api, region, role, selected }) {
  document.title = `${t('title')} – firstlink console`;
  const q = `region=${encodeURIComponent(region)}`;
  let alive = true; let busy = false; let again = false; let timer = null;
  const data = { summary: null, aeds: [], source: 'registry', tickets: null, units: null, updated: null };
  let publicCache = null; // { at, list }
  let registryDenied = false;
  const sel = { aed: selected || null, unit: null };
  let hours = 48; let tableOpen = false;
  const last = {}; // last rendered JSON per part

  const statusEl = h('p', { class: 'muted small rd-updated', role: 'status', title: t('refreshing') });
  const summaryEl = h('div', { class: 'rd-summary', 'aria-live': 'polite' });
  const msgEl = h('p', { class: 'muted', role: 'status' });
  const ticketsEl = h('div', { class: 'rd-tickets' });
  const unitsEl = h('div', { class: 'scroll' });
  const mapEl = h('div', { class: 'big-map rd-map' });
  const mapNote = h('p', { class: 'hint', hidden: true });
  const detailEl = h('div', { class: 'rd-detail-body' });
  const legend = h('ul', { class: 'legend plain row', 'aria-label': t('map.legend') },
    READINESS_ORDER.map((k) => h('li', null, h('span', { class: 'sw round', style: { background: READINESS_COLOR[k] } }), label('readiness', k))));

  clear(main, h('div', { class: 'split readiness', lang: lang() },
    h('section', { class: 'side stack', 'aria-labelledby': 'rd-h' },
      h('div', { class: 'row spread' }, h('h1', { id: 'rd-h' }, t('title')), statusEl),
      h('section', { 'aria-labelledby': 'rd-sum-h', 'data-section': 'summary' }, h('h2', { id: 'rd-sum-h' }, t('summary.heading')), summaryEl),
      h('section', { 'aria-labelledby': 'rd-tk-h', 'data-section': 'tickets' },
        h('div', { class: 'row spread' }, h('h2', { id: 'rd-tk-h' }, t('tickets.heading')), h('span', { class: 'muted small' }, t('tickets.oldest_first'))),
        msgEl, ticketsEl),
      h('section', { 'aria-labelledby': 'rd-un-h', 'data-section': 'units' }, h('h2', { id: 'rd-un-h' }, t('units.heading')), unitsEl)),
    h('div', { class: 'map-pane rd-right' },
      h('section', { class: 'rd-map-wrap', 'aria-label': t('map.region') }, mapEl, legend, mapNote),
      h('section', { class: 'card rd-detail', id: 'rd-detail', 'aria-labelledby': 'rd-det-h', tabindex: '-1' }, detailEl))));

  const map = createMap(mapEl, { label: t('map.label') });
  const layer = L.layerGroup().addTo(map);
  let fitted = false;
  renderDetailEmpty();

  // ---------- loading ----------
  async function loadAeds() {
    if (!registryDenied) {
      try {
        const list = await api.get(`/api/v1/aeds?${q}`);
        return { source: 'registry', list: list.filter((a) => a.id && a.location) };
      } catch (e) {
        if (!forbidden(e)) throw e;
        registryDenied = true;
      }
    }
    // Technicians may not read the registry: place the public AEDs, with
    // the readiness their units report.
    if (!publicCache || Date.now() - publicCache.at > PUBLIC_REFRESH_MS) {
      const fc = await api.get(`/api/v1/public/aeds?${q}`);
      publicCache = {
        at: Date.now(),
        list: (fc?.features ?? []).map((f) => ({ id: f.id, name: f.properties?.name ?? String(f.id), location: { lat: f.geometry.coordinates[1], lon: f.geometry.coordinates[0] }, readiness: null })),
      };
    }
    return { source: 'public', list: publicCache.list };
  }

  async function refresh() {
    if (!alive) return;
    if (busy) { again = true; return; }
    busy = true; again = false;
    try {
      const [s, a, tk, un] = await Promise.allSettled([
        api.get(`/api/v1/monitoring/summary?${q}`),
        loadAeds(),
        api.get(`/api/v1/monitoring/tickets?${q}`),
        api.get(`/api/v1/monitoring/units?${q}`),
      ]);
      if (!alive) return;
      const errs = [];
      const take = (r, what) => {
        if (r.status === 'fulfilled') return { ok: true, v: r.value };
        if (forbidden(r.reason)) return { ok: false, forbidden: true };
        errs.push(t('load_failed', { what: t(`what.${what}`), msg: r.reason?.message ?? r.reason }));
        return { ok: false };
      };
      const S = take(s, 'summary'); const A = take(a, 'aeds'); const TK = take(tk, 'tickets'); const UN = take(un, 'units');
      if (S.ok) data.summary = S.v;
      if (A.ok) { data.aeds = A.v.list; data.source = A.v.source; }
      if (TK.ok) data.tickets = TK.v; else if (TK.forbidden) data.tickets = null;
      if (UN.ok) data.units = UN.v; else if (UN.forbidden) data.units = null;
      data.ticketsForbidden = !!TK.forbidden; data.unitsForbidden = !!UN.forbidden;
      data.updated = new Date().toISOString();
      statusEl.textContent = errs.length ? errs.join(' ') : t('updated', { time: fmtTime(data.updated) });
      statusEl.classList.toggle('rd-error', errs.length > 0);
      renderSummary(); renderTickets(); renderUnits(); renderMap();
      if (sel.aed || sel.unit) await loadDetail();
    } finally {
      busy = false;
      // An action finished while a poll was running: show its result now.
      if (again && alive) refreshNow();
    }
  }
  const refreshNow = () => { setTimeout(refresh, 0); };

  // ---------- summary ----------
  function renderSummary() {
    const s = data.summary;
    if (!s) return;
    const json = JSON.stringify(s);
    if (json === last.summary) return;
    last.summary = json;
    const by = s.by_readiness ?? {};
    clear(summaryEl,
      h('ul', { class: 'rd-tiles', 'aria-label': t('summary.label') },
        READINESS_ORDER.map((k) => {
          const n = by[k] ?? 0;
          return h('li', { class: `rd-tile rd-${k}${n ? '' : ' zero'}`, 'data-readiness': k, title: label('readiness_hint', k) },
            h('span', { class: 'rd-count', 'data-count': String(n) }, String(n)), ' ',
            h('span', { class: 'rd-label' }, label('readiness', k)));
        })),
      h('p', { class: 'muted small' }, t('summary.totals', { aeds: s.aeds, monitored: s.monitored, units: s.units })),
      h('p', { class: 'small', 'data-testid': 'ticket-counts' }, t('summary.tickets', { open: s.open_tickets, unack: s.unacknowledged_tickets })));
  }

  // ---------- tickets ----------
  function aedName(id) {
    return data.aeds.find((a) => a.id === id)?.name
      ?? data.units?.find((u) => u.aed_id === id)?.aed_name
      ?? data.tickets?.find((x) => x.aed_id === id)?.aed_name
      ?? `AED ${String(id).slice(0, 8)}`;
  }

  function renderTickets() {
    if (data.ticketsForbidden) {
      if (last.tickets !== 'forbidden') { last.tickets = 'forbidden'; clear(ticketsEl, h('p', { class: 'muted' }, t('tickets.forbidden'))); }
      return;
    }
    if (!data.tickets) return;
    const list = data.tickets.filter((x) => x.status !== 'resolved').sort((a, b) => b.age_minutes - a.age_minutes || a.opened_at.localeCompare(b.opened_at));
    const json = JSON.stringify(list);
    if (json === last.tickets) return;
    last.tickets = json;
    keepFocus(ticketsEl, () => clear(ticketsEl, list.length
      ? h('ul', { class: 'plain' }, list.map(ticketCard))
      : h('p', { class: 'muted' }, t('tickets.none'))));
  }

  function ticketCard(x) {
    const name = x.aed_name ?? aedName(x.aed_id);
    const hid = `rd-tk-${x.id}`;
    return h('li', { class: `rd-ticket card rd-ts-${x.status}`, 'data-ticket': x.id, 'data-cause': x.cause, 'data-status': x.status },
      h('div', { class: 'row spread' }, h('h3', { id: hid }, name), ticketPill(x.status)),
      h('p', { class: 'rd-cause' }, h('strong', null, label('cause', x.cause))),
      h('p', { class: 'muted small' }, t('tickets.opened', { time: fmtDateTime(x.opened_at), age: fmtAge(x.age_minutes) })),
      x.acknowledged_at ? h('p', { class: 'muted small' }, t('tickets.acked_by', { who: (x.acknowledged_by ?? '').replace(/^operator:/, ''), time: fmtTime(x.acknowledged_at) })) : null,
      x.normal_since ? h('p', { class: 'small rd-normal' }, t('tickets.normal_since', { time: fmtDateTime(x.normal_since) })) : null,
      x.escalated_at ? h('p', { class: 'small rd-escalated' }, t('tickets.escalated', { time: fmtDateTime(x.escalated_at) })) : null,
      h('div', { class: 'row' },
        x.status === 'open' ? h('button', { type: 'button', 'data-action': 'acknowledge', 'data-focus': `ack:${x.id}`, 'aria-describedby': hid, onclick: (e) => acknowledge(x, e.currentTarget) }, t('tickets.acknowledge')) : null,
        h('button', { type: 'button', class: x.status === 'open' ? 'secondary' : '', 'data-action': 'resolve', 'data-focus': `res:${x.id}`, 'aria-describedby': hid, onclick: () => resolveDialog(x) }, t('tickets.resolve')),
        h('button', { type: 'button', class: 'secondary', 'data-action': 'show', 'data-focus': `show:${x.id}`, 'aria-describedby': hid, onclick: () => select({ aed: x.aed_id }, true) }, t('tickets.show'))));
  }

  async function acknowledge(x, btn) {
    btn.disabled = true;
    try {
      await api.post(`/api/v1/monitoring/tickets/${x.id}/acknowledge`);
      msgEl.textContent = t('tickets.acked_msg', { aed: x.aed_name ?? aedName(x.aed_id) });
    } catch (e) {
      msgEl.textContent = e.message; btn.disabled = false;
    }
    refreshNow();
  }

  function resolveDialog(x) {
    const name = x.aed_name ?? aedName(x.aed_id);
    const form = h('form', { class: 'stack', novalidate: true },
      h('h2', null, t('tickets.resolve_title')),
      h('p', null, t('tickets.resolve_intro', { aed: name, cause: label('cause', x.cause) })),
      field({ label: t('tickets.note'), name: 'note', type: 'textarea', hint: t('tickets.note_hint'), attrs: { maxlength: '2000', rows: '4' } }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'ok' }, t('tickets.resolve_submit')), h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('tickets.cancel'))));
    const dlg = h('dialog', { 'aria-label': t('tickets.resolve_title'), lang: lang() }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const note = form.note.value.trim();
      if (!note) return fieldError(form, 'note', t('tickets.note_missing'));
      try {
        await api.post(`/api/v1/monitoring/tickets/${x.id}/resolve`, { note });
        dlg.close();
        msgEl.textContent = t('tickets.resolved_msg', { aed: name });
        refreshNow();
      } catch (e) { showFormError(form, e); }
    });
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg); dlg.showModal();
    form.note.focus();
  }

  // ---------- units ----------
  function renderUnits() {
    if (data.unitsForbidden) {
      if (last.units !== 'forbidden') { last.units = 'forbidden'; clear(unitsEl, h('p', { class: 'muted' }, t('tickets.forbidden'))); }
      return;
    }
    if (!data.units) return;
    const rows = [...data.units].sort((a, b) => (SEVERITY[b.status?.readiness] ?? 0) - (SEVERITY[a.status?.readiness] ?? 0)
      || String(a.aed_name ?? '').localeCompare(String(b.aed_name ?? '')));
    const json = JSON.stringify([rows, sel]);
    if (json === last.units) return;
    last.units = json;
    keepFocus(unitsEl, () => clear(unitsEl, rows.length ? h('table', { class: 'rd-units' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('units.aed')), h('th', { scope: 'col' }, t('units.state')), h('th', { scope: 'col' }, t('units.last_seen')), h('th', { scope: 'col' }, t('units.battery')))),
      h('tbody', null, rows.map((u) => {
        const picked = (u.aed_id && sel.aed === u.aed_id) || sel.unit === u.id;
        return h('tr', { 'data-unit': u.id, class: picked ? 'selected' : null },
          h('td', null,
            h('button', { type: 'button', class: 'link', 'data-focus': `unit:${u.id}`, 'aria-pressed': picked ? 'true' : 'false', onclick: () => select(u.aed_id ? { aed: u.aed_id } : { unit: u.id }, true) },
              u.aed_name ?? (u.aed_id ? aedName(u.aed_id) : t('units.unbound'))),
            h('div', { class: 'muted small' }, u.hardware, u.revoked_at ? ` · ${t('units.revoked')}` : '')),
          h('td', null, readinessPill(u.status?.readiness)),
          h('td', null, u.status?.last_seen ? fmtDateTime(u.status.last_seen) : '–'),
          h('td', null, u.status?.last?.unit_battery_pct != null ? `${u.status.last.unit_battery_pct} %` : '–'));
      })))
      : h('p', { class: 'muted' }, t('units.none'))));
  }

  // ---------- map ----------
  function readinessOf(a) {
    if (data.source === 'registry') return a.readiness ?? 'unmonitored';
    return data.units?.find((u) => u.aed_id === a.id && !u.revoked_at)?.status?.readiness ?? 'unmonitored';
  }

  function renderMap() {
    const items = data.aeds.map((a) => ({ id: a.id, name: a.name, ll: [a.location.lat, a.location.lon], r: readinessOf(a) }));
    const json = JSON.stringify([items, sel.aed]);
    if (json === last.map) return;
    last.map = json;
    layer.clearLayers();
    // Least severe first, so the faulty ones are drawn on top.
    items.sort((a, b) => (SEVERITY[a.r] ?? 0) - (SEVERITY[b.r] ?? 0));
    for (const it of items) {
      const picked = sel.aed === it.id;
      dot(it.ll, { color: READINESS_COLOR[it.r] ?? READINESS_COLOR.unknown, label: `${it.name}: ${label('readiness', it.r)}`, size: picked ? 24 : 18, text: GLYPH[it.r] ?? '', cls: `aed rd-dot rd-${it.r}${picked ? ' selected' : ''}` })
        .on('click', () => select({ aed: it.id }, false))
        .addTo(layer);
    }
    if (!fitted && items.length) { map.fitBounds(L.latLngBounds(items.map((i) => i.ll)).pad(0.2), { maxZoom: 16 }); fitted = true; }
    if (data.source === 'public') {
      const monitored = new Set((data.units ?? []).filter((u) => u.aed_id).map((u) => u.aed_id));
      const missing = [...monitored].filter((id) => !data.aeds.some((a) => a.id === id)).length;
      mapNote.textContent = [t('map.public_only'), missing ? t('map.not_on_map', { n: missing }) : ''].join(' ').trim();
      mapNote.hidden = false;
    } else mapNote.hidden = true;
  }

  // ---------- selection and details ----------
  function select(s, focus) {
    sel.aed = s.aed ?? null; sel.unit = s.unit ?? null;
    last.detail = null;
    try { history.replaceState(null, '', `#/readiness${sel.aed ? `/${sel.aed}` : ''}`); } catch { /* ignore */ }
    renderMap(); renderUnits();
    if (!sel.aed && !sel.unit) { renderDetailEmpty(); return; }
    loadDetail().then(() => { if (focus) document.getElementById('rd-detail')?.focus(); });
  }

  function renderDetailEmpty() {
    last.detail = null;
    clear(detailEl, h('h2', { id: 'rd-det-h' }, t('detail.heading')), h('p', { class: 'muted' }, t('detail.pick')));
  }

  async function loadDetail() {
    const want = { ...sel };
    let info = null; let unit = null; let telemetry = null; let telemetryForbidden = false; let error = null;
    try {
      if (want.aed) {
        info = await api.get(`/api/v1/aeds/${encodeURIComponent(want.aed)}/readiness`);
        unit = info.unit;
      } else if (want.unit) {
        unit = data.units?.find((u) => u.id === want.unit) ?? await api.get(`/api/v1/monitoring/units/${encodeURIComponent(want.unit)}`);
      }
      if (unit) {
        try { telemetry = await api.get(`/api/v1/monitoring/units/${unit.id}/telemetry?hours=${hours}`); }
        catch (e) { if (forbidden(e)) telemetryForbidden = true; else throw e; }
      }
    } catch (e) {
      error = e;
    }
    if (!alive || want.aed !== sel.aed || want.unit !== sel.unit) return;
    if (error) {
      clear(detailEl, h('h2', { id: 'rd-det-h' }, t('detail.heading')),
        h('p', { class: 'banner' }, t('load_failed', { what: t('what.details'), msg: error.message })), closeButton());
      last.detail = null;
      return;
    }
    const json = JSON.stringify([info, unit, telemetry, telemetryForbidden, hours]);
    if (json === last.detail) return;
    last.detail = json;
    keepFocus(detailEl, () => renderDetail({ info, unit, telemetry, telemetryForbidden }));
  }

  function closeButton() {
    return h('button', { type: 'button', class: 'secondary', 'data-focus': 'close', onclick: () => select({}, false) }, t('detail.close'));
  }

  function renderDetail({ info, unit, telemetry, telemetryForbidden }) {
    const name = sel.aed ? aedName(sel.aed) : (unit?.aed_name ?? t('units.unbound'));
    const readiness = info?.readiness ?? unit?.status?.readiness;
    const st = unit?.status; const lv = st?.last ?? {};
    const yn = (v, yes, no) => (v == null ? '–' : v ? yes : no);
    const light = lv.light;
    clear(detailEl,
      h('div', { class: 'row spread' },
        h('h2', { id: 'rd-det-h', 'data-aed': sel.aed ?? '' }, name, ' ', readinessPill(readiness)),
        closeButton()),
      unit ? [
        h('h3', null, t('detail.unit')),
        h('dl', { class: 'facts' },
          h('dt', null, t('detail.hardware')), h('dd', null, unit.hardware),
          unit.firmware ? [h('dt', null, t('detail.firmware')), h('dd', null, unit.firmware)] : null,
          h('dt', null, t('detail.interval')), h('dd', null, fmtInterval(unit.interval_s)),
          h('dt', null, t('detail.last_seen')), h('dd', null, st?.last_seen ? fmtDateTime(st.last_seen) : t('detail.never'))),
        h('div', { class: 'rd-signals' },
          h('div', { class: 'rd-signal', 'data-signal': 'light' },
            h('span', { class: 'rd-sig-label' }, t('detail.light')),
            h('span', { class: 'rd-light', 'data-light': light ?? 'none' },
              h('span', { class: 'rd-lamp', 'aria-hidden': 'true', style: { background: LIGHT_COLOR[light] ?? '#dadce0' } }),
              light ? label('detail.light_value', light) : '–')),
          h('div', { class: 'rd-signal', 'data-signal': 'battery' },
            h('label', { class: 'rd-sig-label', for: 'rd-batt' }, t('detail.battery')),
            lv.unit_battery_pct != null
              ? h('span', null, h('meter', { id: 'rd-batt', min: '0', max: '100', low: '21', high: '50', optimum: '100', value: String(lv.unit_battery_pct) }), ` ${lv.unit_battery_pct} %`)
              : h('span', { id: 'rd-batt' }, '–')),
          h('div', { class: 'rd-signal', 'data-signal': 'temperature' },
            h('span', { class: 'rd-sig-label' }, t('detail.temperature')),
            h('span', { class: lv.temperature_c != null && (lv.temperature_c < OP_MIN || lv.temperature_c > OP_MAX) ? 'rd-out' : null }, lv.temperature_c != null ? `${fmtNum(lv.temperature_c)} °C` : '–')),
          h('div', { class: 'rd-signal', 'data-signal': 'door' }, h('span', { class: 'rd-sig-label' }, t('detail.door')), h('span', null, yn(lv.door_open, t('detail.open'), t('detail.closed')))),
          h('div', { class: 'rd-signal', 'data-signal': 'aed' }, h('span', { class: 'rd-sig-label' }, t('detail.aed_present')), h('span', null, yn(lv.aed_present, t('detail.yes'), t('detail.no')))),
          h('div', { class: 'rd-signal', 'data-signal': 'tamper' }, h('span', { class: 'rd-sig-label' }, t('detail.tamper')), h('span', null, yn(lv.tamper, t('detail.alarm'), t('detail.ok'))))),
        h('p', { class: 'row' }, h('strong', null, `${t('detail.causes')}:`),
          st?.causes?.length ? st.causes.map((c) => h('span', { class: 'pill bad', 'data-cause': c }, label('cause', c))) : h('span', { class: 'muted' }, t('detail.no_causes'))),
        chartSection(telemetry, telemetryForbidden),
      ] : h('p', { class: 'muted' }, t('detail.no_unit')),
      info ? historySection(info) : null);
  }

  function chartSection(buckets, denied) {
    const periodId = 'rd-period';
    const period = h('select', { id: periodId, onchange: (e) => { hours = Number(e.target.value); last.detail = null; loadDetail(); } },
      [[6, t('detail.hours', { n: 6 })], [24, t('detail.hours', { n: 24 })], [48, t('detail.hours', { n: 48 })], [168, t('detail.days', { n: 7 })]]
        .map(([v, txt]) => h('option', { value: String(v), selected: v === hours }, txt)));
    const head = h('div', { class: 'row spread' }, h('h3', { id: 'rd-chart-h' }, t('detail.chart')),
      h('div', { class: 'row' }, h('label', { for: periodId }, t('detail.period')), period));
    if (denied) return h('section', { class: 'rd-chart', 'aria-labelledby': 'rd-chart-h' }, head, h('p', { class: 'muted' }, t('detail.chart_forbidden')));
    const withTemp = (buckets ?? []).filter((b) => b.temp_min != null && b.temp_max != null);
    const table = h('details', { ontoggle: (e) => { tableOpen = e.currentTarget.open; } },
      h('summary', null, t('detail.table')),
      h('div', { class: 'scroll rd-table' }, h('table', null,
        h('thead', null, h('tr', null, ['col_time', 'col_min', 'col_max', 'col_last', 'col_light', 'col_batt', 'col_msgs'].map((k) => h('th', { scope: 'col' }, t(`detail.${k}`))))),
        h('tbody', null, [...(buckets ?? [])].reverse().map((b) => h('tr', null,
          h('td', null, fmtDateTime(b.start)), h('td', null, fmtNum(b.temp_min)), h('td', null, fmtNum(b.temp_max)), h('td', null, fmtNum(b.temp_last)),
          h('td', null, b.light ? label('detail.light_value', b.light) : '–'), h('td', null, b.unit_battery != null ? `${b.unit_battery} %` : '–'), h('td', null, String(b.messages))))))));
    table.open = tableOpen;
    return h('section', { class: 'rd-chart', 'aria-labelledby': 'rd-chart-h' }, head,
      withTemp.length ? h('div', { class: 'scroll rd-chart-wrap' }, tempChart(withTemp, hours)) : h('p', { class: 'muted', 'data-testid': 'chart-empty' }, t('detail.chart_empty')),
      withTemp.length ? h('ul', { class: 'legend plain row small' },
        h('li', null, h('span', { class: 'sw', style: { background: 'rgba(11,87,208,.35)' } }), t('detail.legend_band')),
        h('li', null, h('span', { class: 'sw round', style: { background: '#0b57d0' } }), t('detail.legend_last')),
        h('li', null, h('span', { class: 'sw', style: { background: '#d7f0dd', outline: '1px dashed #146c2e' } }), t('detail.range'))) : null,
      buckets?.length ? table : null);
  }

  function historySection(info) {
    const tickets = info.tickets ?? [];
    return [
      h('section', { 'aria-labelledby': 'rd-hist-h' }, h('h3', { id: 'rd-hist-h' }, t('detail.history')),
        info.history?.length ? h('ol', { class: 'timeline rd-history' }, info.history.map((r) => h('li', { 'data-readiness': r.readiness },
          h('time', { datetime: r.at }, fmtDateTime(r.at)), ' ', readinessPill(r.readiness),
          r.causes?.length ? h('span', { class: 'muted small' }, ` ${r.causes.map((c) => label('cause', c)).join(', ')}`) : null)))
          : h('p', { class: 'muted' }, t('detail.no_history'))),
      h('section', { 'aria-labelledby': 'rd-th-h' }, h('h3', { id: 'rd-th-h' }, t('detail.ticket_history')),
        tickets.length ? h('ol', { class: 'timeline' }, tickets.map((x) => h('li', { 'data-ticket': x.id },
          h('time', { datetime: x.opened_at }, fmtDateTime(x.opened_at)), ' ', ticketPill(x.status), ' ', label('cause', x.cause),
          x.resolved_at ? h('div', { class: 'muted small' }, t('detail.resolved_by', { who: (x.resolved_by ?? '').replace(/^operator:/, ''), time: fmtDateTime(x.resolved_at) }), x.note ? ` – “${x.note}”` : '') : null)))
          : h('p', { class: 'muted' }, t('detail.no_tickets'))),
    ];
  }

  // ---------- life cycle ----------
  timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  refresh();
  return () => { alive = false; clearInterval(timer); map.remove(); };
}

function fmtNum(v) {
  if (v == null) return '–';
  return (Math.round(v * 10) / 10).toLocaleString(lang() === 'da' ? 'da-DK' : 'en-GB', { maximumFractionDigits: 1 });
}

// ---------- the temperature chart (inline SVG, no library) ----------
const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v != null) el.setAttribute(k, String(v));
  for (const c of kids.flat()) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

let chartSeq = 0;

/**
 * Min/max band and last value per 15-minute bucket over the last `hours`,
 * with the operating range 0–50 °C shaded and its limits drawn dashed.
 */
export function tempChart(buckets, hours, now = Date.now()) {
  chartSeq += 1;
  const W = 640; const H = 230; const ml = 44; const mr = 44; const mt = 12; const mb = 30;
  const pw = W - ml - mr; const ph = H - mt - mb;
  const x1 = now; const x0 = now - hours * 3600 * 1000;
  const bs = buckets.map((b) => ({ ...b, t: Date.parse(b.start) })).filter((b) => b.t + BUCKET_MS > x0).sort((a, b) => a.t - b.t);
  if (!bs.length) return h('p', { class: 'muted' }, t('detail.chart_empty'));
  const lo = Math.min(...bs.map((b) => b.temp_min)); const hi = Math.max(...bs.map((b) => b.temp_max));
  const ymin = Math.min(-10, Math.floor((lo - 2) / 10) * 10);
  const ymax = Math.max(60, Math.ceil((hi + 2) / 10) * 10);
  const X = (tm) => ml + ((tm - x0) / (x1 - x0)) * pw;
  const Y = (v) => mt + ((ymax - v) / (ymax - ymin)) * ph;
  const cx = (b) => Math.min(ml + pw, Math.max(ml, X(b.t + BUCKET_MS / 2)));
  const r1 = (v) => Math.round(v * 10) / 10;

  const grid = [];
  for (let v = ymin; v <= ymax; v += 10) {
    grid.push(s('line', { x1: ml, x2: ml + pw, y1: r1(Y(v)), y2: r1(Y(v)), class: 'grid' }));
    grid.push(s('text', { x: ml - 6, y: r1(Y(v)) + 4, 'text-anchor': 'end', class: 'tick' }, `${v}`));
  }
  const stepH = [1, 2, 3, 6, 12, 24, 48].find((st) => hours / st <= 8) ?? 48;
  const step = stepH * 3600 * 1000;
  const dayFmt = { weekday: 'short', hour: '2-digit', minute: '2-digit' };
  const locale = lang() === 'da' ? 'da-DK' : 'en-GB';
  // Ticks on whole local hours.
  const first = new Date(x0); first.setMinutes(0, 0, 0);
  for (let tm = first.getTime() + 3600 * 1000; tm <= x1; tm += 3600 * 1000) {
    if (new Date(tm).getHours() % stepH !== 0 && stepH <= 24) continue;
    if (stepH > 24 && (tm - first.getTime()) % step !== 0) continue;
    grid.push(s('line', { x1: r1(X(tm)), x2: r1(X(tm)), y1: mt, y2: mt + ph, class: 'grid' }));
    grid.push(s('text', { x: r1(X(tm)), y: H - 10, 'text-anchor': 'middle', class: 'tick' },
      new Date(tm).toLocaleString(locale, stepH >= 12 ? dayFmt : { hour: '2-digit', minute: '2-digit' })));
  }

  const bands = bs.map((b) => {
    const x = Math.max(ml, X(b.t)); const w = Math.max(2, Math.min(ml + pw, X(b.t + BUCKET_MS)) - x);
    const y = Y(b.temp_max); const hgt = Math.max(2, Y(b.temp_min) - y);
    return s('rect', { x: r1(x), y: r1(y - (hgt === 2 ? 1 : 0)), width: r1(w), height: r1(hgt), class: 'band' },
      s('title', null, `${fmtDateTime(b.start)}: ${fmtNum(b.temp_min)}–${fmtNum(b.temp_max)} °C`));
  });
  // The last values, joined while the buckets are consecutive.
  const lines = []; let seg = [];
  const flush = () => { if (seg.length > 1) lines.push(s('polyline', { points: seg.join(' '), class: 'last-line' })); seg = []; };
  bs.forEach((b, i) => {
    if (b.temp_last == null) { flush(); return; }
    if (i > 0 && b.t - bs[i - 1].t > BUCKET_MS) flush();
    seg.push(`${r1(cx(b))},${r1(Y(b.temp_last))}`);
  });
  flush();
  const dots = bs.filter((b) => b.temp_last != null).map((b) => s('circle', {
    cx: r1(cx(b)), cy: r1(Y(b.temp_last)), r: bs.length > 60 ? 2 : 3,
    class: `last${b.temp_last < OP_MIN || b.temp_last > OP_MAX ? ' out' : ''}`,
  }, s('title', null, `${fmtTime(b.start)}: ${fmtNum(b.temp_last)} °C`)));

  const lastB = [...bs].reverse().find((b) => b.temp_last != null) ?? bs[bs.length - 1];
  const titleId = `rd-chart-title-${chartSeq}`; const descId = `rd-chart-desc-${chartSeq}`;
  return s('svg', { class: 'temp-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, preserveAspectRatio: 'xMidYMid meet', 'data-buckets': bs.length },
    s('title', { id: titleId }, `${t('detail.chart')} (${hours} h)`),
    s('desc', { id: descId }, t('detail.chart_desc', { n: bs.length, min: fmtNum(lo), max: fmtNum(hi), last: fmtNum(lastB?.temp_last), time: lastB ? fmtDateTime(lastB.start) : '–' })),
    s('rect', { x: ml, y: mt, width: pw, height: ph, class: 'plot' }),
    s('rect', { x: ml, y: r1(Y(OP_MAX)), width: pw, height: r1(Y(OP_MIN) - Y(OP_MAX)), class: 'op-range' }),
    grid,
    s('line', { x1: ml, x2: ml + pw, y1: r1(Y(OP_MAX)), y2: r1(Y(OP_MAX)), class: 'limit' }),
    s('line', { x1: ml, x2: ml + pw, y1: r1(Y(OP_MIN)), y2: r1(Y(OP_MIN)), class: 'limit' }),
    // The limits are labelled in the right margin, clear of the data.
    s('text', { x: ml + pw + 4, y: r1(Y(OP_MAX)) + 4, class: 'limit-label' }, `${OP_MAX} °C`),
    s('text', { x: ml + pw + 4, y: r1(Y(OP_MIN)) + 4, class: 'limit-label' }, `${OP_MIN} °C`),
    s('text', { x: 4, y: mt + 4, class: 'tick unit' }, '°C'),
    bands, lines, dots);
}
