// Every volunteer-app language file has exactly the keys of en.js, no empty
// strings, and keeps every {placeholder} of the English text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('../src/app/i18n/', import.meta.url));
const load = async (f) => (await import(pathToFileURL(dir + f).href)).default;

function flatten(o, prefix = '', out = new Map()) {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix + k;
    if (v && typeof v === 'object') flatten(v, `${key}.`, out);
    else out.set(key, v);
  }
  return out;
}
const placeholders = (s) => [...String(s).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('volunteer app translations', async () => {
  const en = flatten(await load('en.js'));
  const files = readdirSync(dir).filter((f) => /^[a-z]{2}\.js$/.test(f) && f !== 'en.js');
  const index = await import(pathToFileURL(`${dir}index.js`).href); // no DOM use at import time

  it('has the expected languages', () => {
    assert.deepEqual(files.map((f) => f.slice(0, 2)).sort(), ['da', 'de', 'fi', 'nb', 'sv']);
  });

  it('en.js has no empty strings', () => {
    for (const [k, v] of en) assert.ok(typeof v === 'string' && v.trim() !== '', `en: ${k} is empty`);
  });

  for (const f of files) {
    it(`${f} has exactly the keys of en.js, no empty strings and all placeholders`, async () => {
      const tr = flatten(await load(f));
      const missing = [...en.keys()].filter((k) => !tr.has(k));
      const extra = [...tr.keys()].filter((k) => !en.has(k));
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, f);
      for (const [k, v] of tr) {
        assert.ok(typeof v === 'string' && v.trim() !== '', `${f}: ${k} is empty`);
        assert.deepEqual(placeholders(v), placeholders(en.get(k)), `${f}: ${k} placeholders`);
      }
    });
  }

  it('index.js registers every language file', () => {
    assert.deepEqual(Object.keys(index.LANGS).sort(), ['da', 'de', 'en', 'fi', 'nb', 'sv']);
  });
});
