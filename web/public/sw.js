// Chatr's service worker (issue 14): shows Web Push notifications, opens the
// right conversation when one is clicked, and keeps the app shell so that the
// app opens without a network (it then says it is offline and catches up
// when the network returns). Plain JS, served at /sw.js with scope /.
const SHELL = 'chatr-shell-v1';

/** The page and the assets it names (Vite gives them hashed names). */
async function cacheShell() {
  const cache = await caches.open(SHELL);
  const page = await fetch('/', { cache: 'no-cache' });
  const html = await page.clone().text();
  await cache.put('/', page);
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
  await cache.addAll([...new Set([...assets, '/manifest.webmanifest', '/icons/icon-192.png'])]);
}

self.addEventListener('install', (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== SHELL) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  // The API, files and Socket.IO always go to the network.
  if (/^\/(api|uploads|socket\.io)\//.test(url.pathname)) return;
  if (event.request.mode === 'navigate') {
    // The page: fresh when online (a new version shows at once), the kept
    // one when not; either way the shell is refreshed for next time.
    event.respondWith(fetch(event.request).then((res) => {
      if (res.ok) {
        const copy = res.clone();
        void caches.open(SHELL).then((c) => c.put('/', copy));
      }
      return res;
    }).catch(async () => (await caches.match('/')) ?? Response.error()));
    return;
  }
  // Assets have hashed names: what is kept is right forever.
  event.respondWith(caches.match(event.request).then((hit) => hit ?? fetch(event.request).then((res) => {
    if (res.ok && url.pathname.startsWith('/assets/')) {
      const copy = res.clone();
      void caches.open(SHELL).then((c) => c.put(event.request, copy));
    }
    return res;
  })));
});

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data?.text() ?? '' }; }
  // The server pushes only when the user has no session connected, so
  // every push is shown (browsers also require it: userVisibleOnly).
  const shown = (async () => {
    await self.registration.showNotification(data.title || 'Chatr', {
      body: data.body || 'New message',
      tag: data.tag || 'chatr',
      renotify: true,
      icon: '/icons/icon-192.png',
      badge: '/icons/badge-96.png',
      data: { url: data.url || '/', conversationId: data.conversationId || null },
    });
    if (self.navigator.setAppBadge) {
      const all = await self.registration.getNotifications();
      await self.navigator.setAppBadge(all.length).catch(() => undefined);
    }
  })();
  event.waitUntil(shown);
});

/** Opens (or focuses) the app on the conversation of a notification. */
async function openConversation(data) {
  const id = data && data.conversationId;
  const url = (data && data.url) || '/';
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (open) {
    await open.focus().catch(() => undefined);
    open.postMessage({ type: 'open-conversation', id });
    return;
  }
  await self.clients.openWindow(url);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const work = openConversation(event.notification.data);
  // A click the test harness dispatches itself is not trusted, and may not
  // extend its lifetime; a real one does.
  if (event.isTrusted) event.waitUntil(work);
});
