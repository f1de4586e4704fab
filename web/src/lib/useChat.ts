// The client's live state: the socket, conversations, messages, presence and
// indicators, kept consistent with the server's events.
import { useCallback, useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { api } from './api';
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

export function useChat(token: string, me: User) {
  const [connection, setConnection] = useState<Connection>('connecting');
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [messages, setMessages] = useState<Record<string, Shown[]>>({});
  const [presence, setPresence] = useState<Record<string, Presence>>({});
  const [typing, setTyping] = useState<Record<string, boolean>>({});
  const [recording, setRecording] = useState<Record<string, boolean>>({});
  const [open, setOpen] = useState<User | null>(null);
  const socketRef = useRef<Socket | null>(null);
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

  const markRead = useCallback((m: Shown) => {
    if (m.senderId === me.id || m.readAt || m.status === 'read') return;
    if (m.type === 'audio' || m.type === 'voice') return;
    socketRef.current?.emit('message:read', { messageId: m.id, senderId: m.senderId });
    const partner = m.senderId;
    setMessages((all) => ({ ...all, [partner]: (all[partner] ?? []).map((x) => (x.id === m.id ? { ...x, readAt: new Date().toISOString() } : x)) }));
    setConversations((cs) => cs.map((c) => (c.user.id === partner ? { ...c, unreadCount: Math.max(0, c.unreadCount - 1) } : c)));
  }, [me.id]);

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
        for (const list of Object.values(all)) for (const m of list) if (m.pending || m.failed) sendRaw({ ...m, failed: false });
        return all;
      });
    });
    socket.on('disconnect', () => setConnection('offline'));
    socket.io.on('reconnect_attempt', () => setConnection('connecting'));
    socket.on('connect_error', () => setConnection('offline'));
    socket.on('message:received', (m: Message) => {
      const partner = m.senderId === me.id ? m.recipientId : m.senderId;
      setMessages((all) => ({ ...all, [partner]: upsert(all[partner] ?? [], m) }));
      if (m.senderId !== me.id) {
        socket.emit('message:delivered', { messageId: m.id, senderId: m.senderId });
        setTyping((t) => ({ ...t, [m.senderId]: false }));
      }
      void refreshConversations();
    });
    socket.on('message:status', ({ messageId, status }: { messageId: string; status: string }) => {
      setMessages((all) => {
        const next: Record<string, Shown[]> = {};
        for (const [k, list] of Object.entries(all)) next[k] = list.map((x) => (x.id === messageId ? advance(x, status) : x));
        return next;
      });
    });
    socket.on('typing:indicator', ({ userId, isTyping }: { userId: string; isTyping: boolean }) => setTyping((t) => ({ ...t, [userId]: isTyping })));
    socket.on('recording:indicator', ({ userId, isRecording }: { userId: string; isRecording: boolean }) => setRecording((r) => ({ ...r, [userId]: isRecording })));
    socket.on('presence:status', (list: Presence[]) => setPresence((p) => {
      const next = { ...p };
      for (const entry of list) next[entry.userId] = entry;
      return next;
    }));
    return () => { socket.close(); socketRef.current = null; };
  }, [token, me.id, refreshConversations, loadHistory, sendRaw]);

  const openConversation = useCallback((user: User) => {
    setOpen(user);
    socketRef.current?.emit('presence:request', [user.id]);
    void loadHistory(user.id);
  }, [loadHistory]);

  const typingNow = useCallback((partner: string, on: boolean) => {
    socketRef.current?.emit(on ? 'typing:start' : 'typing:stop', { recipientId: partner });
  }, []);

  return {
    connection, conversations, messages, presence, typing, recording, open,
    openConversation, send, markRead, loadHistory, typingNow, partnerOf,
    close: () => setOpen(null),
  };
}
