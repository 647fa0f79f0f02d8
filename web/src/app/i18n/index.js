// Volunteer app strings. To add a language: copy en.js to xx.js, translate,
// and add it here (the server accepts en, sv, da, nb, fi, de).
// test/i18n.test.mjs checks every file has exactly the keys of en.js.
import en from './en.js';
import da from './da.js';
import sv from './sv.js';
import nb from './nb.js';
import fi from './fi.js';
import de from './de.js';

export const LANGS = { en, da, sv, nb, fi, de };
const KEY = 'firstlink.app.lang';
let current = 'en';
let forced = false;

/** Picks the language: ?lang=xx (kept for later visits), else the saved choice, else the browser's languages.
 *  The profile language replaces it after sign-in unless ?lang= was given (see langForced). */
export function initLang() {
  let l = null;
  try { l = new URLSearchParams(location.search).get('lang'); } catch { /* ignore */ }
  if (l) l = l.toLowerCase().slice(0, 2);
  if (l === 'no' || l === 'nn') l = 'nb';
  forced = !!LANGS[l];
  if (!forced) { try { l = localStorage.getItem(KEY); } catch { l = null; } }
  if (!LANGS[l]) l = (navigator.languages || [navigator.language]).map((x) => {
    const c = x?.slice(0, 2).toLowerCase();
    return c === 'no' || c === 'nn' ? 'nb' : c;
  }).find((x) => LANGS[x]);
  setLang(LANGS[l] ? l : 'en');
}

/** True when the page was opened with a valid ?lang= (it then wins over the profile language). */
export function langForced() { return forced; }

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
