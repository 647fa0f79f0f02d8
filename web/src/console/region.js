// Console: region settings for operators and administrators (#/region):
// the brand the volunteer app wears (name, colours, logo), the news and
// training feeds it shows, and the CPR refresher interval. Also the region
// brand in the console header.
import { h, clear, field, showFormError, clearFormErrors, fieldError } from '../shared/dom.js';

const HEX = /^#[0-9a-f]{6}$/i;

/** WCAG contrast of two #rrggbb colours (the server checks the same, at least 4.5:1). */
export function contrast(a, b) {
  const lum = (hex) => {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/** Shows the region's logo and display name next to "firstlink" in the header. */
export async function renderHeaderBrand(el, { api, region }) {
  if (!el || !region) return;
  try {
    const b = await api.get(`/api/v1/regions/${encodeURIComponent(region)}/branding`);
    if (!b?.custom) { clear(el); return; }
    clear(el,
      b.logo ? h('img', { class: 'region-logo', src: b.logo, alt: '' }) : null,
      h('span', { class: 'region-name', style: { borderColor: HEX.test(b.primary_color) ? b.primary_color : null } }, b.display_name));
  } catch { clear(el); }
}

export function regionView(main, { api, region, regionName, onBrandChange }) {
  document.title = 'Region settings – firstlink console';
  const brandEl = h('section', { class: 'card stack', 'aria-labelledby': 'brand-h', 'data-section': 'branding' }, h('h2', { id: 'brand-h' }, 'Brand in the volunteer app'));
  const feedsEl = h('section', { class: 'card stack', 'aria-labelledby': 'feeds-h', 'data-section': 'feeds' }, h('h2', { id: 'feeds-h' }, 'News and training feeds'));
  const refEl = h('section', { class: 'card stack', 'aria-labelledby': 'ref-h', 'data-section': 'refresher' }, h('h2', { id: 'ref-h' }, 'CPR refresher'));
  clear(main, h('section', { class: 'page stack region-settings', 'aria-labelledby': 'reg-h' },
    h('h1', { id: 'reg-h' }, `Region settings – ${regionName}`), brandEl, feedsEl, refEl));
  const base = `/api/v1/regions/${encodeURIComponent(region)}`;
  let alive = true;

  // ---------- brand ----------
  async function loadBrand() {
    let b;
    try { b = await api.get(`${base}/branding`); } catch (e) { brandEl.append(h('p', { class: 'banner' }, `Could not load the brand: ${e.message}`)); return; }
    if (!alive) return;
    const preview = h('div', { class: 'brand-preview', 'aria-hidden': 'true' });
    const contrastEl = h('p', { class: 'hint', 'aria-live': 'polite' });
    const form = h('form', { class: 'stack', novalidate: true },
      field({ label: 'Display name', name: 'display_name', value: b.custom ? b.display_name : '', hint: `Shown in the app instead of “firstlink”, e.g. Hjerteløber or SMSlivräddare. Empty: the region's name (${regionName}).`, attrs: { maxlength: '60' } }),
      h('div', { class: 'row two' },
        colorField('Primary colour (buttons, white text on it)', 'primary_color', b.primary_color),
        colorField('Accent colour (name and links, on white)', 'accent_color', b.accent_color)),
      contrastEl, preview,
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save brand'), h('span', { role: 'status', class: 'muted', 'data-status': 'brand' })));
    const val = (n) => form.querySelector(`[name="${n}"]`).value.trim();
    function update() {
      const p = val('primary_color'); const a = val('accent_color');
      const parts = [];
      for (const [label, c] of [['Primary', p], ['Accent', a]]) {
        if (HEX.test(c)) parts.push(`${label}: ${contrast(c, '#ffffff').toFixed(1)}:1 with white`);
      }
      contrastEl.textContent = `${parts.join(' · ')} (at least 4.5:1 needed).`;
      clear(preview,
        h('span', { class: 'brand-preview-name', style: { color: HEX.test(a) ? a : null } }, val('display_name') || b.display_name),
        h('span', { class: 'brand-preview-btn', style: { background: HEX.test(p) ? p : null } }, 'Button'));
    }
    form.addEventListener('input', (e) => {
      // Keep the colour picker and its text field together.
      const t = e.target;
      if (t.dataset.pair) { const other = form.querySelector(`#${t.dataset.pair}`); if (other && HEX.test(t.value)) other.value = t.value.toLowerCase(); }
      update();
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const body = {}; let bad = false;
      for (const n of ['primary_color', 'accent_color']) {
        const v = val(n);
        if (v && !HEX.test(v)) { fieldError(form, n, 'Enter a colour as #rrggbb, e.g. #c8102e.'); bad = true; } else if (v) {
          const c = contrast(v, '#f6f7f9');
          if (c < 4.5) { fieldError(form, n, `Too light: contrast ${Math.floor(c * 10) / 10}:1, at least 4.5:1 is needed. Choose a darker colour.`); bad = true; }
          body[n] = v;
        }
      }
      if (bad) return;
      if (val('display_name')) body.display_name = val('display_name');
      try {
        await api.put(`${base}/branding`, body);
        form.querySelector('[data-status="brand"]').textContent = 'Saved.';
        onBrandChange?.();
      } catch (e) { showFormError(form, e, 'Could not save.'); }
    });
    update();

    // Logo: PNG or WebP, at most 64 KiB, sent as raw bytes.
    const logoStatus = h('span', { role: 'status', class: 'muted' });
    const current = h('div', { class: 'row logo-current' });
    const showLogo = (src) => clear(current, src ? h('img', { class: 'logo-preview', src, alt: 'Current logo' }) : h('span', { class: 'muted' }, 'No logo: a heart is shown.'));
    showLogo(b.logo);
    const logoForm = h('form', { class: 'stack', novalidate: true },
      h('h3', null, 'Logo'), current,
      field({ label: 'Logo image (PNG or WebP, at most 64 KiB)', name: 'logo', type: 'file', attrs: { accept: 'image/png,image/webp' } }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Upload logo'),
        h('button', { type: 'button', class: 'secondary', onclick: async () => {
          try { const r = await api.del(`${base}/branding/logo`); showLogo(r?.logo); logoStatus.textContent = 'Logo removed.'; onBrandChange?.(); } catch (e) { showFormError(logoForm, e); }
        } }, 'Remove logo'), logoStatus));
    logoForm.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(logoForm);
      const file = logoForm.querySelector('[name="logo"]').files?.[0];
      if (!file) return fieldError(logoForm, 'logo', 'Choose an image file.');
      if (!['image/png', 'image/webp'].includes(file.type)) return fieldError(logoForm, 'logo', 'Only PNG or WebP images (SVG is not accepted).');
      if (file.size > 64 * 1024) return fieldError(logoForm, 'logo', `The file is ${Math.ceil(file.size / 1024)} KiB; at most 64 KiB.`);
      try {
        const r = await api.raw('PUT', `${base}/branding/logo`, file, { contentType: file.type });
        showLogo(r?.logo); logoStatus.textContent = 'Logo saved.'; onBrandChange?.();
      } catch (e) { if (e.body?.error) e.body.error.field = 'logo'; showFormError(logoForm, e, 'Could not upload.'); }
    });
    brandEl.append(form, logoForm);
  }

  function colorField(label, name, value) {
    const wrap = field({ label, name, value, hint: '#rrggbb', attrs: { maxlength: '7', spellcheck: 'false', autocomplete: 'off' } });
    const text = wrap.querySelector('input');
    const picker = h('input', { type: 'color', value, 'aria-label': `${label}: picker`, class: 'color-picker', id: `${text.id}-picker`, dataset: { pair: text.id } });
    text.dataset.pair = picker.id;
    text.after(picker);
    return wrap;
  }

  // ---------- feeds ----------
  async function loadFeeds() {
    let s;
    try { s = await api.get(`${base}/feeds`); } catch (e) { feedsEl.append(h('p', { class: 'banner' }, `Could not load the feeds: ${e.message}`)); return; }
    if (!alive) return;
    const rows = h('ul', { class: 'feed-rows plain' });
    const form = h('form', { class: 'stack', novalidate: true },
      h('p', { class: 'hint' }, 'RSS 2.0 or Atom feeds of your region. Volunteers see their items between missions, as text, newest first. Feeds are fetched by the server and kept for 15 minutes.'),
      rows,
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => addRow({ url: '', kind: 'news', label: '' }, true) }, '+ Add feed')),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save feeds'), h('span', { role: 'status', class: 'muted', 'data-status': 'feeds' })));
    function renumber() {
      // Field names follow the API's error paths (feeds[0].url), so errors land next to their field.
      [...rows.children].forEach((li, i) => {
        li.querySelectorAll('.field').forEach((f) => { f.dataset.field = `feeds[${i}].${f.dataset.key}`; });
        li.querySelector('.feed-n').textContent = `Feed ${i + 1}`;
      });
    }
    function addRow(f, focus) {
      if (rows.children.length >= 10) { fieldError(form, 'feeds', 'At most 10 feeds.'); return; }
      const url = field({ label: 'Feed URL', name: 'url', type: 'url', value: f.url, attrs: { placeholder: 'https://…/feed.xml', spellcheck: 'false' } });
      const kind = field({ label: 'Kind', name: 'kind', value: f.kind, options: [['news', 'News'], ['training', 'Training']] });
      const label = field({ label: 'Label (optional)', name: 'label', value: f.label ?? '', attrs: { maxlength: '80' } });
      for (const [el, k] of [[url, 'url'], [kind, 'kind'], [label, 'label']]) el.dataset.key = k;
      const li = h('li', { class: 'card feed-row stack' }, h('strong', { class: 'feed-n' }), url, h('div', { class: 'row two' }, kind, label),
        h('button', { type: 'button', class: 'secondary', onclick: () => { li.remove(); renumber(); } }, 'Remove'));
      rows.append(li); renumber();
      if (focus) url.querySelector('input').focus();
    }
    for (const f of s.feeds) addRow(f);
    form.append(h('div', { class: 'field', dataset: { field: 'feeds' } }, h('p', { class: 'field-error', role: 'alert', hidden: true })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const feeds = []; let bad = false;
      [...rows.children].forEach((li, i) => {
        const v = (k) => li.querySelector(`[name="${k}"]`).value.trim();
        let ok = true;
        try { const u = new URL(v('url')); ok = u.protocol === 'https:' || u.protocol === 'http:'; } catch { ok = false; }
        if (!ok) { fieldError(form, `feeds[${i}].url`, 'Enter a full http(s) address, e.g. https://example.org/feed.xml.'); bad = true; }
        const f = { url: v('url'), kind: v('kind') };
        if (v('label')) f.label = v('label');
        feeds.push(f);
      });
      if (bad) { form.querySelector('[aria-invalid="true"]')?.focus(); return; }
      try { await api.put(`${base}/feeds`, { feeds }); form.querySelector('[data-status="feeds"]').textContent = 'Saved.'; }
      catch (e) { showFormError(form, e, 'Could not save.'); }
    });
    feedsEl.append(form);
  }

  // ---------- refresher ----------
  async function loadRefresher() {
    let r;
    try { r = await api.get(`${base}/refresher`); } catch (e) { refEl.append(h('p', { class: 'banner' }, `Could not load: ${e.message}`)); return; }
    if (!alive) return;
    const form = h('form', { class: 'stack', novalidate: true },
      field({ label: 'Months a CPR training counts', name: 'interval_months', type: 'number', value: String(r.interval_months), hint: 'Volunteers are reminded in the app from 30 days before, and get one notification per training date.', attrs: { min: '1', max: '120', step: '1' } }),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save'), h('span', { role: 'status', class: 'muted', 'data-status': 'refresher' })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clearFormErrors(form);
      const v = form.querySelector('[name="interval_months"]').value.trim();
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 120) return fieldError(form, 'interval_months', 'Enter whole months from 1 to 120.');
      try { await api.put(`${base}/refresher`, { interval_months: Number(v) }); form.querySelector('[data-status="refresher"]').textContent = 'Saved.'; }
      catch (e) { showFormError(form, e, 'Could not save.'); }
    });
    refEl.append(form);
  }

  loadBrand(); loadFeeds(); loadRefresher();
  return () => { alive = false; };
}
