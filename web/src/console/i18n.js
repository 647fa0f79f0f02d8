// Console strings for the readiness section, English and Danish.
// The console is English by default; open it once with ?lang=da for Danish
// (remembered in localStorage; ?lang=en switches back). Missing keys fall
// back to English.
const KEY = 'firstlink.console.lang';

const en = {
  nav: 'Readiness',
  title: 'AED readiness',
  updated: 'Updated {time}',
  refreshing: 'Refreshing every 10 s',
  load_failed: 'Could not load {what}: {msg}',
  what: { summary: 'the summary', aeds: 'the AEDs', tickets: 'the tickets', units: 'the units', details: 'the details', telemetry: 'the telemetry' },
  summary: {
    heading: 'Fleet',
    label: 'AEDs by readiness',
    totals: '{aeds} AEDs · {monitored} monitored · {units} unit(s)',
    tickets: '{open} open ticket(s), {unack} not acknowledged',
  },
  readiness: {
    ready: 'Ready',
    maintenance_due: 'Maintenance due',
    at_risk: 'At risk',
    unknown: 'Unknown',
    not_ready: 'Not ready',
    missing: 'Missing',
    unmonitored: 'Unmonitored',
  },
  readiness_hint: {
    ready: 'Unit reports everything in order',
    maintenance_due: 'Usable; pads or battery expire soon',
    at_risk: 'A signal near its limit; assigned only when nothing better is near',
    unknown: 'The unit is silent; assigned only when nothing better is near',
    not_ready: 'Never assigned to responders',
    missing: 'Moved from its registered place; never assigned',
    unmonitored: 'No monitoring unit; assumed ready',
  },
  cause: {
    status_fault: 'Status light shows a fault',
    status_off: 'Status light off',
    temperature_low: 'Too cold',
    temperature_high: 'Too hot',
    beeps: 'Warning beeps',
    moved: 'Moved from its place',
    silent: 'Unit silent',
    pads_expired: 'Pads expired',
    battery_expired: 'AED battery expired',
    pads_expiring: 'Pads expire soon',
    battery_expiring: 'AED battery expires soon',
    unit_battery_low: 'Unit battery low',
    aed_removed: 'AED removed from cabinet',
    tamper: 'Unit tampered with',
  },
  tickets: {
    heading: 'Open tickets',
    none: 'No open tickets in this region.',
    forbidden: 'Service tickets are shown to operators and technicians.',
    oldest_first: 'Oldest first',
    opened: 'Opened {time} · {age} ago',
    acked_by: 'Acknowledged by {who} at {time}',
    normal_since: 'Signal normal again since {time}',
    escalated: 'Escalated {time}',
    acknowledge: 'Acknowledge',
    resolve: 'Resolve…',
    show: 'Show AED',
    acked_msg: 'Ticket acknowledged: {aed}.',
    resolved_msg: 'Ticket resolved: {aed}.',
    resolve_title: 'Resolve ticket',
    resolve_intro: '{aed}: {cause}',
    note: 'What was done',
    note_hint: 'Required. Kept with the ticket (up to 2,000 characters).',
    note_missing: 'Describe what was done.',
    resolve_submit: 'Resolve ticket',
    cancel: 'Cancel',
  },
  ticket_status: { open: 'Open', acknowledged: 'Acknowledged', normal_again: 'Normal again', resolved: 'Resolved' },
  units: {
    heading: 'Monitoring units',
    none: 'No monitoring units in this region.',
    aed: 'AED',
    state: 'Readiness',
    last_seen: 'Last seen',
    battery: 'Battery',
    unbound: 'Not at an AED',
    revoked: 'revoked',
  },
  map: {
    label: 'Map of AEDs coloured by readiness',
    region: 'AED readiness map',
    legend: 'Map legend',
    public_only: 'Only public AEDs can be placed on the map for your role.',
    not_on_map: '{n} monitored AED(s) are not on the map.',
  },
  detail: {
    heading: 'Details',
    pick: 'Select an AED on the map, in a ticket or in the unit list.',
    close: 'Close details',
    unit: 'Monitoring unit',
    no_unit: 'No monitoring unit: the AED is assumed ready.',
    hardware: 'Hardware',
    firmware: 'Firmware',
    interval: 'Reports every',
    last_seen: 'Last seen',
    never: 'never',
    light: 'Status light',
    battery: 'Unit battery',
    temperature: 'Temperature',
    door: 'Cabinet door',
    aed_present: 'AED in cabinet',
    tamper: 'Tamper',
    causes: 'Active causes',
    no_causes: 'none',
    open: 'open', closed: 'closed', yes: 'yes', no: 'no', alarm: 'alarm', ok: 'ok',
    light_value: { ok: 'OK', fault: 'Fault', off: 'Off', unknown: 'Unreadable' },
    chart: 'Temperature',
    period: 'Period',
    hours: '{n} h',
    days: '{n} days',
    chart_desc: '{n} 15-minute buckets. Lowest {min} °C, highest {max} °C, last {last} °C at {time}. Operating range 0–50 °C.',
    chart_empty: 'No temperature readings in this period.',
    chart_forbidden: 'Telemetry is shown to operators and technicians.',
    range: 'operating range 0–50 °C',
    legend_band: 'min–max per 15 min',
    legend_last: 'last value',
    table: 'Show the readings as a table',
    col_time: 'From', col_min: 'Min °C', col_max: 'Max °C', col_last: 'Last °C', col_light: 'Light', col_batt: 'Battery', col_msgs: 'Messages',
    history: 'Readiness history',
    no_history: 'No readiness changes recorded.',
    ticket_history: 'Tickets',
    no_tickets: 'No tickets.',
    resolved_by: 'Resolved by {who} at {time}',
  },
  ago: { min: '{n} min', h: '{h} h {m} min', d: '{d} d {h} h' },
};

const da = {
  nav: 'Parathed',
  title: 'Hjertestarternes parathed',
  updated: 'Opdateret {time}',
  refreshing: 'Opdateres hvert 10. sekund',
  load_failed: 'Kunne ikke hente {what}: {msg}',
  what: { summary: 'overblikket', aeds: 'hjertestarterne', tickets: 'sagerne', units: 'enhederne', details: 'detaljerne', telemetry: 'målingerne' },
  summary: {
    heading: 'Flåde',
    label: 'Hjertestartere efter parathed',
    totals: '{aeds} hjertestartere · {monitored} overvåget · {units} enhed(er)',
    tickets: '{open} åbne sag(er), {unack} ikke kvitteret',
  },
  readiness: {
    ready: 'Klar',
    maintenance_due: 'Vedligehold snart',
    at_risk: 'I risiko',
    unknown: 'Ukendt',
    not_ready: 'Ikke klar',
    missing: 'Forsvundet',
    unmonitored: 'Ikke overvåget',
  },
  readiness_hint: {
    ready: 'Enheden melder alt i orden',
    maintenance_due: 'Kan bruges; elektroder eller batteri udløber snart',
    at_risk: 'Et signal nær grænsen; bruges kun, hvis intet bedre er i nærheden',
    unknown: 'Enheden er tavs; bruges kun, hvis intet bedre er i nærheden',
    not_ready: 'Sendes aldrig til hjerteløbere',
    missing: 'Flyttet fra sin registrerede plads; sendes aldrig',
    unmonitored: 'Ingen overvågningsenhed; antages klar',
  },
  cause: {
    status_fault: 'Statuslampen viser fejl',
    status_off: 'Statuslampen er slukket',
    temperature_low: 'For koldt',
    temperature_high: 'For varmt',
    beeps: 'Advarselsbip',
    moved: 'Flyttet fra sin plads',
    silent: 'Enheden er tavs',
    pads_expired: 'Elektroderne er udløbet',
    battery_expired: 'Hjertestarterens batteri er udløbet',
    pads_expiring: 'Elektroderne udløber snart',
    battery_expiring: 'Hjertestarterens batteri udløber snart',
    unit_battery_low: 'Enhedens batteri er lavt',
    aed_removed: 'Hjertestarteren er taget ud af skabet',
    tamper: 'Der er pillet ved enheden',
  },
  tickets: {
    heading: 'Åbne sager',
    none: 'Ingen åbne sager i denne region.',
    forbidden: 'Servicesager vises for operatører og teknikere.',
    oldest_first: 'Ældste først',
    opened: 'Åbnet {time} · for {age} siden',
    acked_by: 'Kvitteret af {who} kl. {time}',
    normal_since: 'Signalet er normalt igen siden {time}',
    escalated: 'Eskaleret {time}',
    acknowledge: 'Kvittér',
    resolve: 'Afslut…',
    show: 'Vis hjertestarter',
    acked_msg: 'Sagen er kvitteret: {aed}.',
    resolved_msg: 'Sagen er afsluttet: {aed}.',
    resolve_title: 'Afslut sag',
    resolve_intro: '{aed}: {cause}',
    note: 'Hvad blev gjort',
    note_hint: 'Skal udfyldes. Gemmes med sagen (højst 2.000 tegn).',
    note_missing: 'Beskriv, hvad der blev gjort.',
    resolve_submit: 'Afslut sag',
    cancel: 'Annullér',
  },
  ticket_status: { open: 'Åben', acknowledged: 'Kvitteret', normal_again: 'Normal igen', resolved: 'Afsluttet' },
  units: {
    heading: 'Overvågningsenheder',
    none: 'Ingen overvågningsenheder i denne region.',
    aed: 'Hjertestarter',
    state: 'Parathed',
    last_seen: 'Sidst hørt',
    battery: 'Batteri',
    unbound: 'Ikke ved en hjertestarter',
    revoked: 'spærret',
  },
  map: {
    label: 'Kort over hjertestartere farvet efter parathed',
    region: 'Kort over parathed',
    legend: 'Signaturforklaring',
    public_only: 'Med din rolle kan kun offentlige hjertestartere vises på kortet.',
    not_on_map: '{n} overvågede hjertestartere er ikke på kortet.',
  },
  detail: {
    heading: 'Detaljer',
    pick: 'Vælg en hjertestarter på kortet, i en sag eller i listen over enheder.',
    close: 'Luk detaljer',
    unit: 'Overvågningsenhed',
    no_unit: 'Ingen overvågningsenhed: hjertestarteren antages at være klar.',
    hardware: 'Hardware',
    firmware: 'Firmware',
    interval: 'Melder hvert',
    last_seen: 'Sidst hørt',
    never: 'aldrig',
    light: 'Statuslampe',
    battery: 'Enhedens batteri',
    temperature: 'Temperatur',
    door: 'Skabslåge',
    aed_present: 'Hjertestarter i skabet',
    tamper: 'Manipulation',
    causes: 'Aktive årsager',
    no_causes: 'ingen',
    open: 'åben', closed: 'lukket', yes: 'ja', no: 'nej', alarm: 'alarm', ok: 'ok',
    light_value: { ok: 'OK', fault: 'Fejl', off: 'Slukket', unknown: 'Ulæselig' },
    chart: 'Temperatur',
    period: 'Periode',
    hours: '{n} t',
    days: '{n} dage',
    chart_desc: '{n} kvarters-intervaller. Laveste {min} °C, højeste {max} °C, seneste {last} °C kl. {time}. Driftsområde 0–50 °C.',
    chart_empty: 'Ingen temperaturmålinger i perioden.',
    chart_forbidden: 'Målinger vises for operatører og teknikere.',
    range: 'driftsområde 0–50 °C',
    legend_band: 'min–maks pr. 15 min',
    legend_last: 'seneste værdi',
    table: 'Vis målingerne som tabel',
    col_time: 'Fra', col_min: 'Min °C', col_max: 'Maks °C', col_last: 'Seneste °C', col_light: 'Lampe', col_batt: 'Batteri', col_msgs: 'Beskeder',
    history: 'Historik for parathed',
    no_history: 'Ingen ændringer registreret.',
    ticket_history: 'Sager',
    no_tickets: 'Ingen sager.',
    resolved_by: 'Afsluttet af {who} kl. {time}',
  },
  ago: { min: '{n} min', h: '{h} t {m} min', d: '{d} d {h} t' },
};

export const LANGS = { en, da };
let current = 'en';

export function initLang() {
  let l = null;
  try {
    const q = new URLSearchParams(location.search).get('lang');
    if (q && LANGS[q]) localStorage.setItem(KEY, q);
    l = localStorage.getItem(KEY);
  } catch { /* storage may be blocked */ }
  current = LANGS[l] ? l : 'en';
  return current;
}

export function lang() { return current; }

/** t('cause.status_fault'), t('updated', { time }) — dotted keys, {var} placeholders. */
export function t(key, vars) {
  const get = (d) => key.split('.').reduce((o, k) => (o == null ? o : o[k]), d);
  let s = get(LANGS[current]);
  if (s == null) s = get(en);
  if (s == null) return key;
  if (vars && typeof s === 'string') s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));
  return s;
}

/** A label for a key of a table, falling back to the raw key (new causes, states). */
export function label(table, key) {
  const v = t(`${table}.${key}`);
  return v === `${table}.${key}` ? String(key).replace(/_/g, ' ') : v;
}
