// REST calls of CONTRACT.md §2–§3; every failure becomes an ApiError with the server's text.
import type { Conversation, Edit, Message, User, Visibility } from './types';

export class ApiError extends Error {
  constructor(public status: number, message: string, public field?: string) {
    super(message);
  }
}

async function call<T>(method: string, path: string, token: string | null, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data?.error ?? res.statusText, data?.field);
  return data as T;
}

export interface Session { token: string; user: User }

export interface Uploaded { messageId: string; fileUrl: string; needsWaveformGeneration: boolean; message: Message }

/**
 * A multipart POST with upload progress, which fetch cannot report: XHR it is.
 * `signal` aborts it.
 */
function send<T>(path: string, token: string, form: FormData, onProgress?: (fraction: number) => void, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    if (onProgress) xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data: { error?: string; field?: string } | null = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON: keep the status text */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as T);
      else reject(new ApiError(xhr.status, data?.error ?? (xhr.status === 413 ? 'The file is too large' : xhr.statusText), data?.field));
    };
    xhr.onerror = () => reject(new ApiError(0, 'Cannot reach the server'));
    xhr.onabort = () => reject(new ApiError(0, 'Cancelled'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}

export const api = {
  register: (username: string, email: string, password: string) =>
    call<Session>('POST', '/api/auth/register', null, { username, email, password }),
  login: (login: string, password: string) => call<Session>('POST', '/api/auth/login', null, { login, password }),
  me: (token: string) => call<User>('GET', '/api/auth/me', token),
  user: (token: string, id: string) => call<User>('GET', `/api/users/${id}`, token),
  search: (token: string, q: string) => call<User[]>('GET', `/api/users/search?q=${encodeURIComponent(q)}`, token),
  conversations: (token: string) => call<Conversation[]>('GET', '/api/messages/conversations', token),
  history: (token: string, partner: string, before?: string) =>
    call<Message[]>('GET', `/api/messages/history?recipientId=${partner}&limit=50${before ? `&before=${before}` : ''}`, token),
  upload: (token: string, recipientId: string, type: Message['type'], file: Blob, fileName: string, onProgress?: (f: number) => void, signal?: AbortSignal, replyToId?: string) => {
    const form = new FormData();
    form.append('recipientId', recipientId);
    form.append('type', type);
    if (replyToId) form.append('replyToId', replyToId);
    form.append('file', file, fileName);
    return send<Uploaded>('/api/messages/upload', token, form, onProgress, signal);
  },
  waveform: (token: string, messageId: string, waveform: number[], duration: number) =>
    call<Message>('PATCH', `/api/messages/${messageId}/waveform`, token, { waveform, duration }),
  setProfileImage: (token: string, image: File) => {
    const form = new FormData();
    form.append('image', image, image.name);
    return send<{ profileImage: string }>('/api/users/profile-image', token, form);
  },
  removeProfileImage: (token: string) => call<null>('DELETE', '/api/users/profile-image', token),
  searchMessages: (token: string, q: string, withUser?: string) =>
    call<Message[]>('GET', `/api/messages/search?q=${encodeURIComponent(q)}&limit=30${withUser ? `&with=${withUser}` : ''}`, token),
  edits: (token: string, id: string) => call<Edit[]>('GET', `/api/messages/${id}/edits`, token),
  block: (token: string, id: string) => call<null>('POST', `/api/users/${id}/block`, token),
  unblock: (token: string, id: string) => call<null>('DELETE', `/api/users/${id}/block`, token),
  blocked: (token: string) => call<User[]>('GET', '/api/users/blocked', token),
  setVisibility: (token: string, presenceVisibility: Visibility) => call<User>('PATCH', '/api/users/me', token, { presenceVisibility }),
  changePassword: (token: string, currentPassword: string, newPassword: string) =>
    call<Session>('POST', '/api/auth/password', token, { currentPassword, newPassword }),
  logout: (token: string) => call<null>('POST', '/api/auth/logout', token),
  logoutAll: (token: string) => call<null>('POST', '/api/auth/logout-all', token),
  deleteAccount: (token: string, password: string) => call<null>('DELETE', '/api/users/me', token, { password }),
  vapidPublicKey: () => call<{ publicKey: string }>('GET', '/api/push/vapid-public-key', null),
  subscribePush: (token: string, subscription: PushSubscriptionJSON) =>
    call<{ endpoint: string }>('POST', '/api/push/subscriptions', token, subscription),
  unsubscribePush: (token: string, endpoint: string) => call<null>('DELETE', '/api/push/subscriptions', token, { endpoint }),
  pushPreferences: (token: string) => call<{ previews: boolean }>('GET', '/api/push/preferences', token),
  setPushPreferences: (token: string, previews: boolean) =>
    call<{ previews: boolean }>('PATCH', '/api/push/preferences', token, { previews }),
  /** The whole export as a Blob (the browser then saves it). */
  exportData: async (token: string): Promise<Blob> => {
    const res = await fetch('/api/users/me/export', { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) {
      const data = await res.json().catch(() => null);
      throw new ApiError(res.status, data?.error ?? res.statusText);
    }
    return res.blob();
  },
};
