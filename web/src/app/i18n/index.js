// Volunteer app strings. To add a language: copy en.js to xx.js, translate,
// and add it here (the server accepts en, sv, da, nb, fi, de).
import en from './en.js';
import da from './da.js';

export const LANGS = { en, da };
const KEY = 'firstlink.app.lang';
let current = 'en';

export function initLang() {
  let l = null;
  try { l = localStorage.getItem(KEY); } catch { /* ignore */ }
  if (!l) l = (navigator.languages || [navigator.language]).map((x) => x?.slice(0, 2)).find((x) => LANGS[x]);
  setLang(LANGS[l] ? l : 'en');
}

export function setLang(l) {
  current = LANGS[l] ? l : 'en';
  document.documentElement.lang = current;
  try { localStorage.setItem(KEY, current); } catch { /* ignore */ }
}

export function lang() { return current; }

/** t('key', {var}) with dotted keys for nested tables: t('state.accepted'). */
export function t(key, vars) {
  const get = (d) => key.split('.').reduce((o, k) => (o == null ? o : o[k]), d);
  let s = get(LANGS[current]);
  if (s == null) s = get(en);
  if (s == null) return key;
  if (vars && typeof s === 'string') s = s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
  return s;
}
