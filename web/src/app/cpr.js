// CPR helper: a metronome (100–120/min) with a compression counter,
// big controls at the bottom of the screen for one-handed use.
import { h } from '../shared/dom.js';

export function openCpr(t) {
  let rate = 110; let count = 0; let timer = null; let ctx = null;
  const countEl = h('output', { class: 'cpr-count', 'aria-live': 'off', id: 'cpr-count' }, '0');
  const beat = h('div', { class: 'cpr-beat', 'aria-hidden': 'true' });
  const rateLabel = h('label', { for: 'cpr-rate' }, t('cpr_rate', { n: rate }));
  const rateIn = h('input', { type: 'range', id: 'cpr-rate', min: '100', max: '120', step: '5', value: String(rate) });
  const toggle = h('button', { class: 'big ok cpr-toggle', 'aria-pressed': 'false' }, t('cpr_start'));
  function click() {
    count += 1; countEl.textContent = String(count);
    beat.classList.remove('on'); void beat.offsetWidth; beat.classList.add('on');
    try {
      ctx ||= new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(); const g = ctx.createGain();
      o.frequency.value = count % 30 === 0 ? 1320 : 880; g.gain.value = 0.25;
      o.connect(g).connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.05);
    } catch { /* no audio */ }
  }
  function start() { stop(); timer = setInterval(click, 60000 / rate); toggle.textContent = t('cpr_stop'); toggle.setAttribute('aria-pressed', 'true'); toggle.classList.replace('ok', 'danger'); }
  function stop() { clearInterval(timer); timer = null; toggle.textContent = t('cpr_start'); toggle.setAttribute('aria-pressed', 'false'); toggle.classList.replace('danger', 'ok'); }
  toggle.addEventListener('click', () => (timer ? stop() : start()));
  rateIn.addEventListener('input', () => { rate = Number(rateIn.value); rateLabel.textContent = t('cpr_rate', { n: rate }); if (timer) start(); });
  const dlg = h('dialog', { class: 'cpr', 'aria-labelledby': 'cpr-h' },
    h('h2', { id: 'cpr-h' }, `♥ ${t('cpr_helper')}`),
    h('p', null, t('cpr_tip')),
    beat,
    h('div', { class: 'cpr-counter' }, h('span', null, t('cpr_count')), countEl),
    h('div', { class: 'cpr-controls stack' }, rateLabel, rateIn, toggle,
      h('div', { class: 'row' }, h('button', { class: 'secondary', 'aria-label': 'Reset counter', onclick: () => { count = 0; countEl.textContent = '0'; } }, '↺ 0'),
        h('button', { class: 'secondary', onclick: () => dlg.close() }, t('cpr_close')))));
  dlg.addEventListener('close', () => { stop(); ctx?.close?.(); dlg.remove(); });
  document.body.append(dlg);
  dlg.showModal();
  toggle.focus();
}
