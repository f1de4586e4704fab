// The client's live state: the socket, conversations, messages, presence and
// indicators, kept consistent with the server's events.
import { useCallback, useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { api, ApiError } from './api';
import { extractWaveform } from './waveform';
import { advance } from './status';
import type { Conversation, Message, Presence, Shown, User } from './types';

export type Connection = 'connecting' | 'online' | 'offline';

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
    socket.timeout(10000).emit('message:send', { recipientId: m.recipientId, content: m.content, clientMessageId: m.clientMessageId },
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
        (progress) => replaceDraft(partner, draft.id, (x) => ({ ...x, upload: x.upload && { ...x.upload, progress } })));
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

  const sendFile = useCallback((partner: User, file: Blob, fileName: string, type: Message['type'], duration?: number) => {
    const clientMessageId = crypto.randomUUID();
    const draft: Shown = {
      id: `local-${clientMessageId}`, senderId: me.id, senderUsername: me.username, senderProfileImage: me.profileImage,
      recipientId: partner.id, content: '', type, status: 'sent', createdAt: new Date().toISOString(), readAt: null,
      fileUrl: null, fileName, fileSize: file.size, fileType: file.type || null, waveform: null, duration: duration ?? null,
      clientMessageId, pending: true,
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

  const send = useCallback((partner: User, content: string) => {
    const clientMessageId = crypto.randomUUID();
    const draft: Shown = {
      id: `local-${clientMessageId}`, senderId: me.id, senderUsername: me.username, senderProfileImage: me.profileImage,
      recipientId: partner.id, content, type: 'text', status: 'sent', createdAt: new Date().toISOString(), readAt: null,
      fileUrl: null, fileName: null, fileSize: null, fileType: null, waveform: null, duration: null, clientMessageId,
      pending: true,
    };
    setMessages((all) => ({ ...all, [partner.id]: upsert(all[partner.id] ?? [], draft) }));
    socketRef.current?.emit('typing:stop', { recipientId: partner.id });
    sendRaw(draft);
  }, [me, sendRaw]);

  useEffect(() => {
    const socket = io({ auth: { token } });
    socketRef.current = socket;
    socket.on('connect', () => {
      setConnection('online');
      void refreshConversations();
      if (openRef.current) void loadHistory(openRef.current.id);
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
      }
      void refreshConversations();
    });
    socket.on('message:status', ({ messageId, status }: { messageId: string; status: string }) => {
      patchMessage(messageId, (x) => advance(x, status));
    });
    socket.on('audio:waveform', ({ messageId, waveform, duration }: { messageId: string; waveform: number[]; duration: number }) => {
      patchMessage(messageId, (x) => ({ ...x, waveform, duration }));
    });
    socket.on('typing:indicator', ({ userId, isTyping }: { userId: string; isTyping: boolean }) => setTyping((t) => ({ ...t, [userId]: isTyping })));
    socket.on('recording:indicator', ({ userId, isRecording }: { userId: string; isRecording: boolean }) => setRecording((r) => ({ ...r, [userId]: isRecording })));
    socket.on('presence:status', (list: Presence[]) => setPresence((p) => {
      const next = { ...p };
      for (const entry of list) next[entry.userId] = entry;
      return next;
    }));
    return () => { socket.close(); socketRef.current = null; };
  }, [token, me.id, refreshConversations, loadHistory, sendRaw, onUnauthorized, patchMessage]);

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

  return {
    connection, conversations, messages, presence, typing, recording, open,
    openConversation, send, sendFile, retry, markRead, heard, loadHistory, typingNow, recordingNow, partnerOf,
    close: () => setOpen(null),
  };
}
