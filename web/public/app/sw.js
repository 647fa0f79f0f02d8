// firstlink volunteer app service worker: urgent alert notifications
// (Web Push, or on request from the open page) and an offline app shell.
const CACHE = 'firstlink-app-v2';
const SHELL = ['/app/', '/app/manifest.webmanifest', '/app/icon.svg'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).catch(() => {}).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

// Network first (the API is never cached); the cache only serves when offline.
self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (!(url.pathname.startsWith('/app/') || url.pathname.startsWith('/assets/'))) return;
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(e.request, copy)); }
    return res;
  }).catch(() => caches.match(e.request).then((r) => r || (e.request.mode === 'navigate' ? caches.match('/app/') : Response.error()))));
});

function urgent(title, body, data) {
  return self.registration.showNotification(title || 'Cardiac arrest nearby', {
    body: body || 'Open firstlink to answer.',
    tag: 'firstlink-alert',
    renotify: true,
    requireInteraction: true,
    vibrate: [500, 200, 500, 200, 500, 200, 1000],
    icon: '/app/icon-192.png',
    badge: '/app/icon-192.png',
    data: data || {},
    actions: [{ action: 'open', title: 'Open' }],
  });
}

// What replaces an alert on the phone (same tag), quietly.
const REPLACES_ALERT = ['stand_down', 'out_of_range', 'ended', 'cancelled'];

function quiet(title, body, data) {
  const kind = (data && data.kind) || 'message';
  return self.registration.showNotification(title || 'firstlink', {
    body: body || '',
    tag: REPLACES_ALERT.includes(kind) ? 'firstlink-alert' : `firstlink-${kind}`,
    renotify: false,
    icon: '/app/icon-192.png',
    badge: '/app/icon-192.png',
    data: data || {},
  });
}

self.addEventListener('push', (e) => {
  let d = {};
  try { d = e.data ? e.data.json() : {}; } catch { d = { body: e.data && e.data.text() }; }
  // Only an alert is urgent (vibration, stays until answered); dispatcher
  // messages during a mission still renotify, everything else is quiet.
  const kind = d.data && d.data.kind;
  const show = kind === undefined || kind === 'alert' ? urgent : quiet;
  e.waitUntil(show(d.title, d.body, kind === undefined ? d : { ...d.data, title: d.title }));
});

self.addEventListener('message', (e) => {
  if (e.data && e.data.type === 'alert') e.waitUntil(urgent(e.data.title, e.data.body, e.data));
});

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  e.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((cs) => {
    for (const c of cs) if (c.url.includes('/app/') && 'focus' in c) return c.focus();
    return self.clients.openWindow('/app/');
  }));
});
