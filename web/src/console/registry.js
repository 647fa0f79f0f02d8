// Operator tools for the AED registry section: the "coverage at this hour"
// map layer, the registry health panel and the review queue. Operators and
// administrators only (the server answers 403 to dispatchers; the console
// does not offer these to them).
import { h, clear, field, showFormError, fmtTime, fmtDistance } from '../shared/dom.js';
import { ApiError } from '../shared/api.js';
import { L } from '../shared/map.js';

const EARTH_RADIUS_M = 6371008.8;
const REFRESH_MS = 60000;

/** Coverage classes: colour plus a text, never colour alone. */
export const COVERAGE = {
  none: { color: '#c5221f', label: 'No volunteer and no usable AED' },
  partial: { color: '#e8710a', label: 'Volunteers or a usable AED, not both' },
  both: { color: '#146c2e', label: 'Volunteers and a usable AED' },
};

export function coverageClass(c) {
  if (c.volunteers > 0 && c.aeds > 0) return 'both';
  if (c.volunteers > 0 || c.aeds > 0) return 'partial';
  return 'none';
}

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

/**
 * The coverage layer on a Leaflet map. `controlsEl` receives the toggle,
 * legend and note. Returns a cleanup function.
 */
export function coverageLayer(map, controlsEl, { api, region }) {
  const layer = L.layerGroup();
  const toggle = h('input', { type: 'checkbox', id: 'cov-toggle', 'aria-controls': 'cov-info' });
  const status = h('p', { class: 'muted small cov-status', role: 'status', 'aria-live': 'polite' });
  const note = h('p', { class: 'hint cov-note', 'data-testid': 'coverage-note' });
  const legend = h('ul', { class: 'legend plain cov-legend', 'aria-label': 'Coverage legend' },
    Object.entries(COVERAGE).map(([k, v]) => h('li', { 'data-coverage': k },
      h('span', { class: 'sw', style: { background: v.color }, 'aria-hidden': 'true' }), v.label)));
  const info = h('div', { id: 'cov-info', class: 'cov-info stack', hidden: true }, legend, note, status);
  clear(controlsEl,
    h('div', { class: 'row' }, toggle, h('label', { for: 'cov-toggle' }, 'Coverage at this hour')),
    info);
  let timer = null; let seq = 0; let alive = true;

  function bboxOfMap() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map((x) => x.toFixed(5)).join(',');
  }

  /** A cell size that keeps the map's bounds under the server's 10,000 cells. */
  function cellForMap() {
    const b = map.getBounds();
    const hM = (b.getNorth() - b.getSouth()) * Math.PI / 180 * EARTH_RADIUS_M;
    const wM = (b.getEast() - b.getWest()) * Math.PI / 180 * EARTH_RADIUS_M * Math.cos(b.getCenter().lat * Math.PI / 180);
    const need = Math.sqrt(Math.max(hM * wM, 1) / 8000);
    return Math.min(5000, Math.max(500, Math.ceil(need / 100) * 100));
  }

  async function fetchCoverage() {
    const base = `/api/v1/coverage?region=${encodeURIComponent(region)}`;
    try {
      return await api.get(`${base}&cell_m=500`);
    } catch (e) {
      // No AEDs to frame the region (or too many cells): use what the map shows.
      if (e instanceof ApiError && e.status === 400 && (e.field === 'bbox' || e.field === 'cell_m')) {
        return api.get(`${base}&cell_m=${cellForMap()}&bbox=${bboxOfMap()}`);
      }
      throw e;
    }
  }

  async function refresh(fit = false) {
    if (!toggle.checked) return;
    const my = ++seq;
    status.textContent = 'Loading coverage…';
    let cov;
    try { cov = await fetchCoverage(); } catch (e) {
      if (my !== seq || !alive) return;
      status.textContent = e instanceof ApiError && e.status === 403
        ? 'Coverage is shown to operators.' : `Could not load the coverage: ${e.message}`;
      return;
    }
    if (my !== seq || !alive || !toggle.checked) return;
    draw(cov, fit);
  }

  function draw(cov, fit) {
    layer.clearLayers();
    const counts = { none: 0, partial: 0, both: 0 };
    const halfLat = (cov.cell_m / 2 / EARTH_RADIUS_M) * 180 / Math.PI;
    for (const c of cov.cells) {
      const k = coverageClass(c);
      counts[k] += 1;
      const halfLon = halfLat / Math.max(0.01, Math.cos(c.lat * Math.PI / 180));
      const n = c.volunteers + c.aeds;
      const fillOpacity = k === 'none' ? 0.3 : Math.min(0.75, 0.25 + 0.1 * n);
      const text = `${plural(c.volunteers, 'volunteer', 'volunteers')} · ${plural(c.aeds, 'usable AED', 'usable AEDs')}`;
      const r = L.rectangle([[c.lat - halfLat, c.lon - halfLon], [c.lat + halfLat, c.lon + halfLon]], {
        color: COVERAGE[k].color, weight: 0.5, opacity: 0.6, fillColor: COVERAGE[k].color, fillOpacity,
        className: `cov-cell cov-${k}`, bubblingMouseEvents: true,
      }).bindTooltip(text, { sticky: true });
      r.addTo(layer);
      const el = r.getElement?.();
      if (el) {
        el.dataset.coverage = k; el.dataset.volunteers = c.volunteers; el.dataset.aeds = c.aeds;
        el.dataset.lat = c.lat; el.dataset.lon = c.lon;
      }
    }
    // Turning the layer on shows the whole grid once; refreshes keep the view.
    if (fit && cov.cells.length) {
      const b = L.latLngBounds(cov.cells.map((c) => [c.lat, c.lon])).pad(0.05);
      if (!map.getBounds().contains(b)) map.fitBounds(b, { maxZoom: 16 });
    }
    note.textContent = `Counts now (${fmtTime(cov.at)}), within ${Math.round(cov.radius_m)} m (volunteers) / ${Math.round(cov.aed_radius_m)} m (AEDs); cells of ${Math.round(cov.cell_m)} m. Refreshes every minute.`;
    status.textContent = `${plural(cov.cells.length, 'cell', 'cells')}: ${counts.both} with both, ${counts.partial} with one, ${counts.none} with neither.`;
    status.dataset.cells = cov.cells.length;
  }

  function setOn(on) {
    info.hidden = !on;
    clearInterval(timer); timer = null;
    seq += 1;
    if (on) {
      layer.addTo(map);
      refresh(true);
      timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    } else {
      layer.clearLayers(); layer.remove();
      status.textContent = ''; delete status.dataset.cells;
    }
  }
  toggle.addEventListener('change', () => setOn(toggle.checked));
  return () => { alive = false; clearInterval(timer); layer.remove(); };
}

// ---------- review queue and registry health ----------

function pct(x) { return `${Math.round(x * 100)} %`; }
function coord(lat, lon) { return `${lat.toFixed(5)}, ${lon.toFixed(5)}`; }

/**
 * Registry health and the review queue, rendered into `el`.
 * `aeds()` gives the region's current AED list (for names and merge targets);
 * `onChange()` is called after an approval or merge. Returns { load }.
 */
export function registryPanels(el, { api, region, aeds, onChange }) {
  const healthEl = h('div', { class: 'reg-health', 'aria-live': 'polite' });
  const queueEl = h('div', { class: 'reg-queue' });
  const msg = h('p', { class: 'muted', role: 'status', 'data-testid': 'review-msg' });
  clear(el,
    h('section', { class: 'card stack', 'aria-labelledby': 'health-h', 'data-section': 'health' },
      h('h2', { id: 'health-h' }, 'Registry health'), healthEl),
    h('section', { class: 'card stack', 'aria-labelledby': 'review-h', 'data-section': 'review' },
      h('h2', { id: 'review-h' }, 'Review queue'), msg, queueEl));
  const q = encodeURIComponent(region);
  const nameOf = (id) => aeds().find((a) => a.id === id)?.name ?? `AED ${String(id).slice(0, 8)}`;

  function renderHealth(x) {
    const fact = (key, term, value, extra) => [h('dt', null, term), h('dd', { 'data-health': key }, value, extra ? h('span', { class: 'muted small' }, ` ${extra}`) : null)];
    clear(healthEl, h('dl', { class: 'facts' },
      fact('records', 'Records', `${x.total}`, `(${x.active} active, ${x.pending_review} pending review, ${x.inactive} inactive, ${x.removed} removed)`),
      fact('confirmed', `Confirmed in the last ${x.confirmed_within_days} days`, pct(x.confirmed_share), `(${x.confirmed_recently} of ${x.active} active)`),
      fact('hours_unknown', 'Opening hours unknown', `${x.hours_unknown}`, 'active AED(s) without hours or with hours that do not parse'),
      fact('flagged', 'Flagged for review', `${x.flagged}`)),
    h('h3', null, 'Expiring consumables'),
    h('ul', { class: 'plain consumables' },
      h('li', { 'data-health': 'expired' }, h('span', { class: `pill ${x.expired_consumables ? 'bad' : 'ok'}` }, `${x.expired_consumables}`),
        ' active AED(s) with pads or battery already expired'),
      h('li', { 'data-health': 'expiring' }, h('span', { class: `pill ${x.expiring_consumables ? 'warn' : 'ok'}` }, `${x.expiring_consumables}`),
        ` active AED(s) with pads or battery expiring within ${x.expiring_within_days} days`)),
    (x.expiring ?? []).length
      ? h('table', { class: 'data', 'data-testid': 'expiring-list' },
        h('caption', { class: 'muted small' }, 'Soonest first'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'AED'), h('th', { scope: 'col' }, 'Pads expire'), h('th', { scope: 'col' }, 'Battery expires'))),
        h('tbody', null, ...x.expiring.map((e) => h('tr', { class: e.expired ? 'bad' : 'warn', 'data-aed': e.id },
          h('td', null, e.name, e.expired ? h('span', { class: 'pill bad' }, ' expired') : null),
          h('td', null, e.pad_expiry ?? '–'),
          h('td', null, e.battery_expiry ?? '–')))))
      : null);
  }

  function reason(item, f) {
    switch (f.kind) {
      case 'moved': return h('li', { 'data-flag': 'moved' }, h('strong', null, 'Moved: '),
        `a sync${f.source ? ` (${f.source})` : ''} reports it ${fmtDistance(f.distance_m)} away, at ${coord(f.lat, f.lon)}. The stored position is kept until approved.`);
      case 'duplicate': return h('li', { 'data-flag': 'duplicate' }, h('strong', null, 'Duplicate of: '),
        `${nameOf(f.of)} (${fmtDistance(f.distance_m)} away).`);
      case 'new_registration': return h('li', { 'data-flag': 'new_registration' }, h('strong', null, 'New registration'), ' by an owner.');
      default: return h('li', { 'data-flag': f.kind }, f.kind);
    }
  }

  async function act(item, path, body, done) {
    try {
      await api.post(`/api/v1/aeds/${item.id}/${path}`, body);
      msg.textContent = done;
      await load(); onChange?.();
      return true;
    } catch (e) { msg.textContent = `${item.name}: ${e.message}`; return false; }
  }

  function mergeDialog(item) {
    const dupOf = item.flags.filter((f) => f.kind === 'duplicate').map((f) => f.of);
    const targets = aeds().filter((a) => a.id !== item.id && a.status !== 'removed')
      .sort((a, b) => (dupOf.includes(b.id) - dupOf.includes(a.id)) || a.name.localeCompare(b.name));
    const form = h('form', { class: 'stack', novalidate: true },
      h('h2', null, `Merge ${item.name}`),
      h('p', null, 'This record is marked removed; what only it knew (hours, code, consumables…) is copied to the record that stays.'),
      field({ label: 'Merge into', name: 'into', value: dupOf[0] ?? '', options: targets.map((a) => [a.id, `${a.name}${dupOf.includes(a.id) ? ' (likely duplicate)' : ''}`]) }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Merge'), h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, 'Cancel')));
    const dlg = h('dialog', { 'aria-label': `Merge ${item.name}` }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const into = form.querySelector('[name="into"]').value;
      try {
        await api.post(`/api/v1/aeds/${item.id}/merge`, { into });
        dlg.close(); msg.textContent = `${item.name} merged into ${nameOf(into)}.`;
        await load(); onChange?.();
      } catch (e) { showFormError(form, e, 'Could not merge.'); }
    });
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg); dlg.showModal();
    if (!targets.length) showFormError(form, new Error('There is no other live AED in this region to merge into.'));
  }

  function renderQueue(items) {
    if (!items.length) { clear(queueEl, h('p', { class: 'muted', 'data-testid': 'review-empty' }, 'Nothing to review in this region.')); return; }
    clear(queueEl, h('p', { class: 'muted small' }, plural(items.length, 'record waits', 'records wait'), ' for review.'),
      h('ul', { class: 'plain' }, items.map((it) => {
        const moved = it.flags.find((f) => f.kind === 'moved');
        return h('li', { class: 'review-item', 'data-aed': it.id, 'aria-label': it.name },
          h('div', { class: 'row spread' }, h('strong', null, it.name),
            h('span', { class: `pill ${it.status === 'pending_review' ? 'warn' : ''}` }, it.status.replace(/_/g, ' '))),
          it.source ? h('div', { class: 'muted small' }, `Source: ${it.source}${it.source_id ? ` #${it.source_id}` : ''}`) : null,
          h('ul', { class: 'reasons' },
            it.flags.map((f) => reason(it, f)),
            !it.flags.length ? h('li', { 'data-flag': 'pending' }, h('strong', null, 'Pending review'), ' (no sync flag).') : null,
            it.hours_error ? h('li', { 'data-flag': 'hours' }, h('strong', null, 'Opening hours do not parse: '), it.hours_error) : null),
          h('div', { class: 'row' },
            h('button', { type: 'button', class: 'ok', 'data-action': 'approve',
              onclick: () => act(it, 'approve', { accept_move: false }, `${it.name} approved${moved ? ' at its stored position' : ''}.`) },
            moved ? 'Approve (keep position)' : 'Approve'),
            moved ? h('button', { type: 'button', 'data-action': 'approve-move',
              onclick: () => act(it, 'approve', { accept_move: true }, `${it.name} approved and moved to ${coord(moved.lat, moved.lon)}.`) },
            'Approve with the new position') : null,
            h('button', { type: 'button', class: 'secondary', 'data-action': 'merge', onclick: () => mergeDialog(it) }, 'Merge into…')));
      })));
  }

  async function load() {
    const [health, queue] = await Promise.allSettled([
      api.get(`/api/v1/aeds/health?region=${q}`),
      api.get(`/api/v1/aeds/review?region=${q}`),
    ]);
    if (health.status === 'fulfilled') renderHealth(health.value);
    else clear(healthEl, h('p', { class: 'banner' }, `Could not load the registry health: ${health.reason.message}`));
    if (queue.status === 'fulfilled') renderQueue(queue.value);
    else clear(queueEl, h('p', { class: 'banner' }, `Could not load the review queue: ${queue.reason.message}`));
  }
  return { load };
}
