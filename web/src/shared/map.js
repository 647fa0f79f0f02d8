// Leaflet maps with a configurable base map. Default: no base map (the
// server may run without internet); features are drawn on a plain
// background with a scale bar. Configure with window.FIRSTLINK_TILES, or
// ?tiles=https://tile.example/{z}/{x}/{y}.png (remembered; ?tiles=none clears).
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';

const KEY = 'firstlink.tiles';

export function tileUrl() {
  try {
    const q = new URLSearchParams(location.search).get('tiles');
    if (q !== null) {
      if (q === '' || q === 'none') localStorage.removeItem(KEY);
      else if (/^https?:\/\/|^\//.test(q)) localStorage.setItem(KEY, q);
    }
  } catch { /* storage may be blocked */ }
  if (typeof window.FIRSTLINK_TILES === 'string' && window.FIRSTLINK_TILES) return window.FIRSTLINK_TILES;
  try { return localStorage.getItem(KEY) || null; } catch { return null; }
}

export function createMap(el, { center = [55.6761, 12.5683], zoom = 14, label = 'Map' } = {}) {
  el.classList.add('fl-map');
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', label);
  const map = L.map(el, { center, zoom, zoomControl: true, attributionControl: true, keyboard: true, fadeAnimation: false, zoomAnimation: false, markerZoomAnimation: false });
  const url = tileUrl();
  if (url) {
    L.tileLayer(url, { maxZoom: 19, attribution: '© OpenStreetMap contributors' }).addTo(map);
  } else {
    el.classList.add('fl-map-plain');
    map.attributionControl.addAttribution('No base map configured');
  }
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  // Leaflet needs a size recalculation when its container was hidden.
  let alive = true;
  const ro = new ResizeObserver(() => { if (alive) map.invalidateSize({ animate: false }); });
  ro.observe(el);
  const remove = map.remove.bind(map);
  map.remove = () => {
    if (!alive) return map;
    alive = false; ro.disconnect();
    try { map.stop(); } catch { /* not started */ }
    try { return remove(); } catch { return map; }
  };
  return map;
}

/** A round, labelled marker (no image assets needed). */
export function dot(latlng, { color = '#0b57d0', label = '', size = 18, text = '', cls = '' } = {}) {
  const icon = L.divIcon({
    className: `fl-dot ${cls}`,
    html: `<span style="background:${color};width:${size}px;height:${size}px">${text}</span>`,
    iconSize: [size, size],
    iconAnchor: [size / 2, size / 2],
  });
  const m = L.marker(latlng, { icon, title: label, alt: label, keyboard: true });
  if (label) m.bindTooltip(label);
  return m;
}

export { L };
