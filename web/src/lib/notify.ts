// Notifications in the page (issue 14): the service worker, the browser's
// Web Push subscription, desktop notifications while the app is hidden, and
// the unread count in the tab title and on the app's badge.
import { api } from './api';

export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

let registration: Promise<ServiceWorkerRegistration | null> | null = null;

/** Registers /sw.js once (it also keeps the app shell for offline starts). */
export function worker(): Promise<ServiceWorkerRegistration | null> {
  if (!('serviceWorker' in navigator)) return Promise.resolve(null);
  registration ??= navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => null);
  return registration;
}

/** `applicationServerKey` wants bytes; the server gives base64url. */
export function base64UrlBytes(s: string): Uint8Array {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether this browser gets pushes for this account. */
export async function pushState(): Promise<PushState> {
  if (!supported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await worker();
  const sub = await reg?.pushManager.getSubscription();
  return sub && Notification.permission === 'granted' ? 'on' : 'off';
}

/** Asks the person (when the browser has not been told yet), subscribes, and
 * gives the subscription to the server for this session. */
export async function enablePush(token: string): Promise<PushState> {
  if (!supported()) return 'unsupported';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  const reg = await worker();
  if (!reg) return 'unsupported';
  const serverKey = base64UrlBytes((await api.vapidPublicKey()).publicKey);
  let sub = await reg.pushManager.getSubscription();
  // A subscription made for another server key cannot be used: start over.
  const key = sub?.options.applicationServerKey;
  if (sub && key && !sameBytes(new Uint8Array(key), serverKey)) {
    await sub.unsubscribe();
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey as BufferSource });
  await api.subscribePush(token, sub.toJSON());
  return 'on';
}

/** Stops pushes to this browser (on the server when `token` is given). */
export async function disablePush(token?: string): Promise<PushState> {
  if (!supported()) return 'unsupported';
  const reg = await worker();
  const sub = await reg?.pushManager.getSubscription();
  if (sub) {
    if (token) await api.unsubscribePush(token, sub.endpoint).catch(() => undefined);
    await sub.unsubscribe().catch(() => false);
  }
  return Notification.permission === 'denied' ? 'denied' : 'off';
}

/** A desktop notification for a message that arrived while the app is not
 * looked at; through the worker, so that a click opens the conversation. */
export async function notifyDesktop(title: string, body: string, conversationId: string): Promise<void> {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const options = {
    body, tag: `chatr:${conversationId}`, renotify: true, icon: '/icons/icon-192.png', badge: '/icons/badge-96.png',
    data: { url: `/?c=${conversationId}`, conversationId },
  };
  const reg = await worker();
  if (reg) await reg.showNotification(title, options);
  else new Notification(title, options);
}

/** Whether the person is looking at the app now. */
export const looking = () => document.visibilityState === 'visible' && document.hasFocus();

/** `(3) Chatr` in the tab, and 3 on the installed app's icon. */
export function showUnread(count: number): void {
  document.title = count > 0 ? `(${count}) Chatr` : 'Chatr';
  const nav = navigator as Navigator & { setAppBadge?: (n: number) => Promise<void>; clearAppBadge?: () => Promise<void> };
  if (count > 0) void nav.setAppBadge?.(count).catch(() => undefined);
  else void nav.clearAppBadge?.().catch(() => undefined);
}
