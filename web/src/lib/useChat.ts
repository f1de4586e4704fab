// The client's live state: the socket, conversations, messages, presence and
// indicators, kept consistent with the server's events.
import { useCallback, useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { api, ApiError } from './api';
import { extractWaveform } from './waveform';
import { advance } from './status';
import { previewOf } from './format';
import { looking, notifyDesktop } from './notify';
import type { Conversation, Message, Presence, Reaction, ReplyTo, Shown, User } from './types';

export type Connection = 'connecting' | 'online' | 'offline';

/** What a message becomes once unsent. */
function tombstone(deletedAt: string) {
  return (x: Shown): Shown => ({
    ...x, content: '', deletedAt, editedAt: null, reactions: [], fileUrl: null, fileName: null, fileSize: null,
    fileType: null, waveform: null, duration: null, thumbnailUrl: null,
  });
}

/** Emits with an ack; resolves the ack, or an error ack when the server did not answer. */
function ask<T>(socket: Socket | null, event: string, payload: unknown): Promise<{ ok: boolean; error?: { code: string; message: string } } & T> {
  return new Promise((resolve) => {
    if (!socket?.connected) { resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } } as never); return; }
    socket.timeout(10000).emit(event, payload, (err: unknown, ack: { ok: boolean } & T) => {
      resolve(err ? ({ ok: false, error: { code: 'timeout', message: 'No answer from the server' } } as never) : ack);
    });
  });
}

function upsert(list: Shown[], m: Shown): Shown[] {
  const i = list.findIndex((x) => x.id === m.id || (m.clientMessageId && x.clientMessageId === m.clientMessageId));
  if (i === -1) return [...list, m].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const copy = list.slice();
  copy[i] = { ...m, status: advance(list[i], m.status).status };
  return copy;
}

export function useChat(token: string, me: User, onUnauthorized: () => void) {
  const [connection, setConnection] = useState<Connection>('connecting');
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [messages, setMessages] = useState<Record<string, Shown[]>>({});
  const [presence, setPresence] = useState<Record<string, Presence>>({});
  const [typing, setTyping] = useState<Record<string, boolean>>({});
  const [recording, setRecording] = useState<Record<string, boolean>>({});
  const [open, setOpen] = useState<User | null>(null);
  const socketRef = useRef<Socket | null>(null);
  // Uploads from this tab in flight, per partner: their own `message:received`
  // is left to the upload's response, so the draft is replaced, not doubled.
  const uploading = useRef<Record<string, number>>({});
  const openRef = useRef<User | null>(null);
  openRef.current = open;

  const partnerOf = useCallback((m: Message) => (m.senderId === me.id ? m.recipientId : m.senderId), [me.id]);

  const refreshConversations = useCallback(async () => {
    const list = await api.conversations(token);
    setConversations(list);
    socketRef.current?.emit('presence:request', list.map((c) => c.user.id));
  }, [token]);

  const loadHistory = useCallback(async (partner: string, before?: string) => {
    const page = await api.history(token, partner, before);
    setMessages((all) => {
      let list = all[partner] ?? [];
      for (const m of page) list = upsert(list, m);
      return { ...all, [partner]: list };
    });
    return page.length;
  }, [token]);

  /** A message from the partner is now read here: stamp it, one unread fewer. */
  const noteRead = useCallback((m: Shown) => {
    const partner = m.senderId;
    setMessages((all) => ({ ...all, [partner]: (all[partner] ?? []).map((x) => (x.id === m.id ? { ...x, readAt: new Date().toISOString() } : x)) }));
    setConversations((cs) => cs.map((c) => (c.user.id === partner ? { ...c, unreadCount: Math.max(0, c.unreadCount - 1) } : c)));
  }, []);

  /** Applies `change` to the reply snapshots of message `id`, wherever they are. */
  const patchReplies = useCallback((id: string, change: (r: ReplyTo) => ReplyTo) => {
    setMessages((all) => {
      const next: Record<string, Shown[]> = {};
      for (const [k, list] of Object.entries(all)) next[k] = list.map((x) => (x.replyTo?.id === id ? { ...x, replyTo: change(x.replyTo) } : x));
      return next;
    });
  }, []);

  /** Applies `change` to the message `id`, in whichever conversation holds it. */
  const patchMessage = useCallback((id: string, change: (m: Shown) => Shown) => {
    setMessages((all) => {
      const next: Record<string, Shown[]> = {};
      for (const [k, list] of Object.entries(all)) next[k] = list.map((x) => (x.id === id ? change(x) : x));
      return next;
    });
  }, []);

  const markRead = useCallback((m: Shown) => {
    if (m.senderId === me.id || m.readAt || m.status === 'read') return;
    if (m.type === 'audio' || m.type === 'voice') return;
    socketRef.current?.emit('message:read', { messageId: m.id, senderId: m.senderId });
    noteRead(m);
  }, [me.id, noteRead]);

  const sendRaw = useCallback((m: Shown) => {
    const socket = socketRef.current;
    if (!socket?.connected) return;
    socket.timeout(10000).emit('message:send', { recipientId: m.recipientId, content: m.content, clientMessageId: m.clientMessageId, replyToId: m.replyTo?.id },
      (err: unknown, ack: { ok: boolean; message?: Message }) => {
        const partner = m.recipientId;
        setMessages((all) => {
          const list = all[partner] ?? [];
          if (!err && ack?.ok && ack.message) {
            const rest = list.filter((x) => x.clientMessageId !== m.clientMessageId);
            return { ...all, [partner]: upsert(rest, ack.message) };
          }
          return { ...all, [partner]: list.map((x) => (x.clientMessageId === m.clientMessageId ? { ...x, failed: true, pending: false } : x)) };
        });
        if (!err && ack?.ok) void refreshConversations();
      });
  }, [refreshConversations]);

  const replaceDraft = useCallback((partner: string, localId: string, change: (m: Shown) => Shown | null) => {
    setMessages((all) => {
      const list = all[partner] ?? [];
      const next: Shown[] = [];
      for (const x of list) {
        if (x.id !== localId) { next.push(x); continue; }
        const changed = change(x);
        if (changed) next.push(changed);
      }
      return { ...all, [partner]: next };
    });
  }, []);

  const upload = useCallback(async (draft: Shown) => {
    const partner = draft.recipientId;
    const file = draft.upload?.file;
    if (!file) return;
    uploading.current[partner] = (uploading.current[partner] ?? 0) + 1;
    try {
      const done = await api.upload(token, partner, draft.type, file, draft.fileName ?? 'file',
        (progress) => replaceDraft(partner, draft.id, (x) => ({ ...x, upload: x.upload && { ...x.upload, progress } })),
        undefined, draft.replyTo?.id);
      if (draft.upload?.previewUrl) URL.revokeObjectURL(draft.upload.previewUrl);
      setMessages((all) => ({ ...all, [partner]: upsert((all[partner] ?? []).filter((x) => x.id !== draft.id), done.message) }));
      if (done.needsWaveformGeneration) {
        // The server could not decode it; the browser often can.
        extractWaveform(await file.arrayBuffer())
          .then(({ waveform, duration }) => api.waveform(token, done.messageId, waveform, duration > 0 ? duration : draft.duration ?? 1))
          .catch((err) => console.warn('no waveform for this audio', err));
      }
      void refreshConversations();
    } catch (err) {
      const error = err instanceof ApiError ? err.message : 'Upload failed';
      replaceDraft(partner, draft.id, (x) => ({ ...x, pending: false, failed: true, error }));
    } finally {
      uploading.current[partner] -= 1;
      // Anything this tab skipped meanwhile (another session's upload) comes back with the page.
      void loadHistory(partner);
    }
  }, [token, replaceDraft, refreshConversations, loadHistory]);

  const sendFile = useCallback((partner: User, file: Blob, fileName: string, type: Message['type'], duration?: number, replyTo?: ReplyTo | null) => {
    const clientMessageId = crypto.randomUUID();
    const draft: Shown = {
      id: `local-${clientMessageId}`, senderId: me.id, senderUsername: me.username, senderProfileImage: me.profileImage,
      recipientId: partner.id, content: '', type, status: 'sent', createdAt: new Date().toISOString(), readAt: null,
      fileUrl: null, fileName, fileSize: file.size, fileType: file.type || null, waveform: null, duration: duration ?? null,
      clientMessageId, pending: true, editedAt: null, deletedAt: null, replyTo: replyTo ?? null, reactions: [],
      upload: { file, progress: 0, previewUrl: type === 'image' ? URL.createObjectURL(file) : null },
    };
    setMessages((all) => ({ ...all, [partner.id]: upsert(all[partner.id] ?? [], draft) }));
    void upload(draft);
  }, [me, upload]);

  const retry = useCallback((m: Shown) => {
    const retried = { ...m, failed: false, pending: true, error: undefined, upload: m.upload && { ...m.upload, progress: 0 } };
    replaceDraft(m.recipientId, m.id, () => retried);
    if (m.upload) void upload(retried);
    else sendRaw(retried);
  }, [replaceDraft, upload, sendRaw]);

  const send = useCallback((partner: User, content: string, replyTo?: ReplyTo | null) => {
    const clientMessageId = crypto.randomUUID();
    const draft: Shown = {
      id: `local-${clientMessageId}`, senderId: me.id, senderUsername: me.username, senderProfileImage: me.profileImage,
      recipientId: partner.id, content, type: 'text', status: 'sent', createdAt: new Date().toISOString(), readAt: null,
      fileUrl: null, fileName: null, fileSize: null, fileType: null, waveform: null, duration: null, clientMessageId,
      pending: true, editedAt: null, deletedAt: null, replyTo: replyTo ?? null, reactions: [],
    };
    setMessages((all) => ({ ...all, [partner.id]: upsert(all[partner.id] ?? [], draft) }));
    socketRef.current?.emit('typing:stop', { recipientId: partner.id });
    sendRaw(draft);
  }, [me, sendRaw]);

  useEffect(() => {
    // recover: after a short cut the server replays what was missed
    // (connection state recovery), so nothing needs fetching again.
    const socket = io({ auth: { token, recover: true } });
    socketRef.current = socket;
    socket.on('connect', () => {
      setConnection('online');
      if (!socket.recovered) {
        void refreshConversations();
        if (openRef.current) void loadHistory(openRef.current.id);
      }
      // Resend what did not make it; the clientMessageId makes a resend harmless.
      setMessages((all) => {
        for (const list of Object.values(all)) for (const m of list) if ((m.pending || m.failed) && !m.upload) sendRaw({ ...m, failed: false });
        return all;
      });
    });
    socket.on('disconnect', () => setConnection('offline'));
    socket.io.on('reconnect_attempt', () => setConnection('connecting'));
    socket.on('connect_error', (err: Error) => {
      setConnection('offline');
      if (socket.active) return; // a network error: Socket.IO keeps retrying by itself
      // The server refused the token (expired, account gone): back to logging in,
      // unless it only could not check it right now.
      if (/try again/.test(err.message)) setTimeout(() => socket.connect(), 3000);
      else onUnauthorized();
    });
    socket.on('message:received', (m: Message) => {
      const partner = m.senderId === me.id ? m.recipientId : m.senderId;
      if (m.senderId === me.id && m.type !== 'text' && uploading.current[partner]) return;
      setMessages((all) => ({ ...all, [partner]: upsert(all[partner] ?? [], m) }));
      if (m.senderId !== me.id) {
        socket.emit('message:delivered', { messageId: m.id, senderId: m.senderId });
        setTyping((t) => ({ ...t, [m.senderId]: false }));
        // The app is open but not looked at: a desktop notification (none
        // while the person has this very conversation in front of them).
        if (!looking() && !(document.visibilityState === 'visible' && openRef.current?.id === m.senderId)) {
          void notifyDesktop(m.senderUsername, previewOf(m), m.senderId).catch(() => undefined);
        }
      }
      void refreshConversations();
    });
    socket.on('message:status', ({ messageId, status }: { messageId: string; status: string }) => {
      patchMessage(messageId, (x) => advance(x, status));
    });
    socket.on('audio:waveform', ({ messageId, waveform, duration }: { messageId: string; waveform: number[]; duration: number }) => {
      patchMessage(messageId, (x) => ({ ...x, waveform, duration }));
    });
    socket.on('message:edited', ({ messageId, content, editedAt }: { messageId: string; content: string; editedAt: string }) => {
      patchMessage(messageId, (x) => ({ ...x, content, editedAt }));
      patchReplies(messageId, (r) => ({ ...r, content: content.slice(0, 200) }));
      void refreshConversations();
    });
    socket.on('message:unsent', ({ messageId, deletedAt }: { messageId: string; deletedAt: string }) => {
      patchMessage(messageId, tombstone(deletedAt));
      patchReplies(messageId, (r) => ({ ...r, content: '', deleted: true }));
      void refreshConversations();
    });
    socket.on('message:reactions', ({ messageId, reactions }: { messageId: string; reactions: Reaction[] }) => {
      patchMessage(messageId, (x) => ({ ...x, reactions }));
    });
    socket.on('typing:indicator', ({ userId, isTyping }: { userId: string; isTyping: boolean }) => setTyping((t) => ({ ...t, [userId]: isTyping })));
    socket.on('recording:indicator', ({ userId, isRecording }: { userId: string; isRecording: boolean }) => setRecording((r) => ({ ...r, [userId]: isRecording })));
    socket.on('presence:status', (list: Presence[]) => setPresence((p) => {
      const next = { ...p };
      for (const entry of list) next[entry.userId] = entry;
      return next;
    }));
    return () => { socket.close(); socketRef.current = null; };
  }, [token, me.id, refreshConversations, loadHistory, sendRaw, onUnauthorized, patchMessage, patchReplies]);

  const openConversation = useCallback((user: User) => {
    setOpen(user);
    socketRef.current?.emit('presence:request', [user.id]);
    void loadHistory(user.id);
  }, [loadHistory]);

  const typingNow = useCallback((partner: string, on: boolean) => {
    socketRef.current?.emit(on ? 'typing:start' : 'typing:stop', { recipientId: partner });
  }, []);

  const recordingNow = useCallback((partner: string, on: boolean) => {
    socketRef.current?.emit(on ? 'recording:start' : 'recording:stop', { recipientId: partner });
  }, []);

  /** The recipient plays a voice note (`listening`) or has heard ≥ 95 % of it (`listened`, which also reads it). */
  const heard = useCallback((m: Shown, fully: boolean) => {
    if (m.senderId === me.id) return;
    socketRef.current?.emit(fully ? 'audio:listened' : 'audio:listening', { messageId: m.id, senderId: m.senderId });
    if (!fully || m.readAt) return;
    noteRead(m);
  }, [me.id, noteRead]);

  /** `message:edit`: resolves the server's refusal, if any. */
  const edit = useCallback(async (m: Shown, content: string): Promise<string | null> => {
    const ack = await ask<{ message?: Message }>(socketRef.current, 'message:edit', { messageId: m.id, content });
    if (!ack.ok || !ack.message) return ack.error?.message ?? 'Could not edit';
    const stored = ack.message;
    patchMessage(m.id, (x) => ({ ...x, content: stored.content, editedAt: stored.editedAt }));
    return null;
  }, [patchMessage]);

  /** `message:unsend` ("delete for everyone"). */
  const unsend = useCallback(async (m: Shown): Promise<string | null> => {
    const ack = await ask<{ message?: Message }>(socketRef.current, 'message:unsend', { messageId: m.id });
    if (!ack.ok || !ack.message) return ack.error?.message ?? 'Could not delete';
    patchMessage(m.id, tombstone(ack.message.deletedAt ?? new Date().toISOString()));
    patchReplies(m.id, (r) => ({ ...r, content: '', deleted: true }));
    return null;
  }, [patchMessage, patchReplies]);

  /** `message:react`: `emoji` replaces one's reaction; the same one again (or null) removes it. */
  const react = useCallback(async (m: Shown, emoji: string | null): Promise<string | null> => {
    const ack = await ask<{ reactions?: Reaction[] }>(socketRef.current, 'message:react', { messageId: m.id, emoji });
    if (!ack.ok || !ack.reactions) return ack.error?.message ?? 'Could not react';
    const reactions = ack.reactions;
    patchMessage(m.id, (x) => ({ ...x, reactions }));
    return null;
  }, [patchMessage]);

  /** Loads older pages of a conversation until message `id` is in it (at most a few thousand back). */
  const reveal = useCallback(async (partner: string, id: string): Promise<boolean> => {
    const has = () => new Promise<boolean>((resolve) => setMessages((all) => { resolve((all[partner] ?? []).some((x) => x.id === id)); return all; }));
    if (await has()) return true;
    await loadHistory(partner);
    for (let page = 0; page < 40; page += 1) {
      if (await has()) return true;
      const oldest = await new Promise<string | undefined>((resolve) => setMessages((all) => { resolve((all[partner] ?? []).find((x) => !x.pending)?.id); return all; }));
      if (!oldest || (await loadHistory(partner, oldest)) === 0) break;
    }
    return has();
  }, [loadHistory]);

  const setBlocked = useCallback(async (user: User, on: boolean) => {
    await (on ? api.block(token, user.id) : api.unblock(token, user.id));
    await refreshConversations();
    if (!on) socketRef.current?.emit('presence:request', [user.id]);
  }, [token, refreshConversations]);

  const blocked = useCallback((id: string) => conversations.some((c) => c.user.id === id && c.blocked), [conversations]);

  /** Messages with `partner` containing the words of `q`, newest first. */
  const searchIn = useCallback((partner: string, q: string) => api.searchMessages(token, q, partner).catch(() => [] as Message[]), [token]);

  return {
    connection, conversations, messages, presence, typing, recording, open,
    openConversation, send, sendFile, retry, markRead, heard, loadHistory, typingNow, recordingNow, partnerOf,
    edit, unsend, react, reveal, setBlocked, blocked, searchIn,
    close: () => setOpen(null),
  };
}
