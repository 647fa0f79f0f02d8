// Tiny DOM helpers: h('div', {class: 'x', onclick}, ...children).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(sel, root = document) { return root.querySelector(sel); }

let uid = 0;
export function nextId(prefix = 'f') { uid += 1; return `${prefix}-${uid}`; }

/** A labelled form field with a slot for its error message (aria-describedby). */
export function field({ label, name, type = 'text', value = '', required, hint, options, attrs = {} }) {
  const id = nextId(name.replace(/\W/g, '-'));
  const err = h('p', { class: 'field-error', id: `${id}-err`, role: 'alert', hidden: true });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const describedby = [hintEl ? `${id}-hint` : null, `${id}-err`].filter(Boolean).join(' ');
  let input;
  if (options) {
    input = h('select', { id, name, 'aria-describedby': describedby, ...attrs },
      options.map(([v, t]) => h('option', { value: v, selected: String(v) === String(value) }, t)));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, 'aria-describedby': describedby, ...attrs });
    input.value = value ?? '';
  } else if (type === 'checkbox') {
    input = h('input', { id, name, type, 'aria-describedby': describedby, ...attrs });
    input.checked = !!value;
    return h('div', { class: 'field field-check', dataset: { field: name } }, input, h('label', { for: id }, label), hintEl, err);
  } else {
    input = h('input', { id, name, type, 'aria-describedby': describedby, required: !!required, ...attrs });
    input.value = value ?? '';
  }
  return h('div', { class: 'field', dataset: { field: name } }, h('label', { for: id }, label), hintEl, input, err);
}

/** Shows an API error next to the field it names (JSON path), or in the form's general slot. */
export function showFormError(form, error, fallbackText) {
  clearFormErrors(form);
  const e = error?.body?.error ?? {};
  const msg = e.message || error?.message || fallbackText || 'Something went wrong';
  const path = e.field;
  let target = null;
  if (path) {
    const candidates = [path, path.replace(/^\./, ''), path.split('.')[0], path.split('.').pop()];
    for (const c of candidates) {
      target = form.querySelector(`.field[data-field="${CSS.escape(c)}"]`);
      if (target) break;
    }
  }
  if (target) {
    const p = target.querySelector('.field-error');
    p.textContent = msg; p.hidden = false;
    const input = target.querySelector('input,select,textarea');
    input?.setAttribute('aria-invalid', 'true');
    input?.focus();
  } else {
    const g = form.querySelector('.form-error');
    if (g) { g.textContent = path ? `${path}: ${msg}` : msg; g.hidden = false; }
  }
}

export function clearFormErrors(form) {
  form.querySelectorAll('.field-error, .form-error').forEach((p) => { p.hidden = true; p.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
}

export function fieldError(form, name, msg) {
  const target = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  if (!target) return;
  const p = target.querySelector('.field-error');
  p.textContent = msg; p.hidden = false;
  target.querySelector('input,select,textarea')?.setAttribute('aria-invalid', 'true');
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtDateTime(iso) {
  if (!iso) return '–';
  return new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });
}

export function fmtDistance(m) {
  if (m == null) return '–';
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

export function fmtDuration(s) {
  if (s == null) return '–';
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

/** Seconds from now until iso (negative if past). */
export function secondsUntil(iso) {
  return iso ? (new Date(iso).getTime() - Date.now()) / 1000 : null;
}
