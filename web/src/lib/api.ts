// REST calls of CONTRACT.md §2–§3; every failure becomes an ApiError with the server's text.
import type { Conversation, Message, User } from './types';

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
};
