// Public AED map. Reads GET /api/v1/public/aeds (GeoJSON FeatureCollection of
// Points with properties name, open_now, next_change, access, indoor,
// description). Shows a friendly state while the endpoint does not exist.
import '../shared/style.css';
import './map.css';
import { h, clear, fmtDistance } from '../shared/dom.js';
import { createMap, dot, L } from '../shared/map.js';

const root = document.getElementById('root');
const listEl = h('ul', { class: 'aed-list', 'aria-label': 'AEDs' });
const status = h('p', { role: 'status', class: 'muted', id: 'aed-status' });
const openOnly = h('input', { type: 'checkbox', id: 'open-only' });
const locate = h('button', { class: 'secondary' }, 'Nearest to me');
const mapEl = h('div', { class: 'pub-map' });
clear(root,
  h('header', { class: 'pub-head' }, h('h1', null, '⚡ Find a defibrillator (AED)'),
    h('p', null, 'In an emergency, call 112 first. An AED can be used by anyone: open it and follow the spoken instructions.')),
  h('main', { class: 'pub-main' },
    h('section', { class: 'pub-side stack', 'aria-label': 'List of AEDs' },
      h('div', { class: 'row' }, openOnly, h('label', { for: 'open-only' }, 'Open now only'), locate),
      status, listEl),
    h('section', { class: 'pub-mapwrap', 'aria-label': 'Map' }, mapEl)),
  h('footer', { class: 'muted pub-foot' }, 'AED data: firstlink registry. Map data © OpenStreetMap contributors where a base map is shown.'));

const map = createMap(mapEl, { label: 'Map of public AEDs' });
const layer = L.layerGroup().addTo(map);
let features = [];
let me = null;

function fmtNext(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });
}

function openText(p) {
  if (p.open_now === true) return h('span', { class: 'pill ok' }, p.next_change ? `Open · closes ${fmtNext(p.next_change)}` : 'Open');
  if (p.open_now === false) return h('span', { class: 'pill bad' }, p.next_change ? `Closed · opens ${fmtNext(p.next_change)}` : 'Closed');
  return h('span', { class: 'pill' }, 'Opening hours unknown');
}

function distTo(f) {
  if (!me) return null;
  const [lon, lat] = f.geometry.coordinates;
  const R = 6371000; const r = Math.PI / 180;
  const x = Math.sin(((lat - me.lat) * r) / 2) ** 2 + Math.cos(me.lat * r) * Math.cos(lat * r) * Math.sin(((lon - me.lon) * r) / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(x));
}

function render() {
  let rows = features.filter((f) => !openOnly.checked || f.properties.open_now === true);
  if (me) rows = rows.map((f) => [distTo(f), f]).sort((a, b) => a[0] - b[0]).map(([, f]) => f);
  status.textContent = `${rows.length} AED${rows.length === 1 ? '' : 's'} shown`;
  clear(listEl, rows.slice(0, 200).map((f) => {
    const p = f.properties; const [lon, lat] = f.geometry.coordinates; const d = distTo(f);
    return h('li', null, h('button', { class: 'aed-item', onclick: () => { map.setView([lat, lon], 18); } },
      h('strong', null, p.name || 'AED'), d != null ? h('span', { class: 'muted' }, ` · ${fmtDistance(d)}`) : null,
      h('div', null, openText(p), p.indoor === true ? h('span', { class: 'pill info' }, 'Indoors') : null, p.access && p.access !== 'public' ? h('span', { class: 'pill warn' }, `Access: ${p.access}`) : null),
      p.description ? h('div', { class: 'muted' }, p.description) : null));
  }));
  layer.clearLayers();
  for (const f of rows) {
    const p = f.properties; const [lon, lat] = f.geometry.coordinates;
    dot([lat, lon], { color: p.open_now === false ? '#5f6368' : '#146c2e', label: `${p.name || 'AED'}${p.open_now === false ? ' (closed)' : ''}`, size: 18, text: '⚡', cls: 'aed' })
      .bindPopup(`<strong>${escapeHtml(p.name || 'AED')}</strong><br>${escapeHtml(p.description || '')}`)
      .addTo(layer);
  }
  if (me) dot([me.lat, me.lon], { color: '#0b57d0', label: 'You', size: 16 }).addTo(layer);
}

function escapeHtml(s) { return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]); }

async function load() {
  status.textContent = 'Loading…';
  let res;
  try {
    const region = new URLSearchParams(location.search).get('region');
    res = await fetch(`/api/v1/public/aeds${region ? `?region=${encodeURIComponent(region)}` : ''}`, { headers: { Accept: 'application/geo+json, application/json' } });
  } catch {
    clear(listEl, h('li', { class: 'card', 'data-state': 'offline' }, h('h2', null, 'No connection'), h('p', null, 'The AED list could not be loaded. Check your connection.'), h('button', { onclick: load }, 'Try again')));
    status.textContent = '';
    return;
  }
  if (res.status === 404) {
    status.textContent = '';
    clear(listEl, h('li', { class: 'card', 'data-state': 'unavailable' }, h('h2', null, 'The public AED map is not available yet'),
      h('p', null, 'This server does not publish its AED registry yet. In an emergency, call 112 – the dispatcher knows where the nearest AED is.')));
    return;
  }
  if (!res.ok) { status.textContent = `The AED list could not be loaded (HTTP ${res.status}).`; return; }
  const fc = await res.json();
  features = (fc.features || []).filter((f) => f.geometry?.type === 'Point');
  render();
  if (features.length) map.fitBounds(L.latLngBounds(features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])).pad(0.1), { maxZoom: 16 });
}

openOnly.addEventListener('change', render);
locate.addEventListener('click', () => {
  if (!navigator.geolocation) return;
  status.textContent = 'Finding your position…';
  navigator.geolocation.getCurrentPosition((p) => {
    me = { lat: p.coords.latitude, lon: p.coords.longitude };
    render(); map.setView([me.lat, me.lon], 16);
  }, () => { status.textContent = 'Your position is not available. Allow location for this site to sort by distance.'; });
});
load();
