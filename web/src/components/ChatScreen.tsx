import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { api, type Session } from '../lib/api';
import { clock, day, duration, presenceLine } from '../lib/format';
import type { Message, User } from '../lib/types';
import { useChat } from '../lib/useChat';
import { Avatar } from './Avatar';
import { Bubble } from './Bubble';
import { Composer } from './Composer';
import { ProfileMenu } from './ProfileMenu';

export function ChatScreen({ session, onSignOut, onProfile }: { session: Session; onSignOut: () => void; onProfile: (user: User) => void }) {
  const { token, user: me } = session;
  const chat = useChat(token, me, onSignOut);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<User[]>([]);

  useEffect(() => {
    const q = query.trim();
    if (!q) { setFound([]); return; }
    const t = setTimeout(() => { api.search(token, q).then(setFound).catch(() => setFound([])); }, 200);
    return () => clearTimeout(t);
  }, [query, token]);

  const open = chat.open;
  return (
    <div className={`app ${open ? 'has-open' : ''}`}>
      <aside className="sidebar" aria-label="Conversations">
        <header>
          <ProfileMenu token={token} me={me} onChange={onProfile} />
          <strong>{me.username}</strong>
          <span className={`conn ${chat.connection}`} role="status">{chat.connection === 'online' ? '' : chat.connection === 'connecting' ? 'connecting…' : 'offline, reconnecting…'}</span>
          <button className="link" onClick={onSignOut}>Log out</button>
        </header>
        <input className="search" type="search" placeholder="Find people" aria-label="Find people" value={query} onChange={(e) => setQuery(e.target.value)} />
        <ul className="list">
          {query.trim()
            ? found.map((u) => (
              <li key={u.id}><button onClick={() => { chat.openConversation(u); setQuery(''); }}><Avatar user={u} /><span className="name">{u.username}</span></button></li>
            ))
            : chat.conversations.map((c) => {
              const p = chat.presence[c.user.id];
              const preview = chat.typing[c.user.id] ? 'typing…' : chat.recording[c.user.id] ? 'recording…' : previewOf(c.lastMessage);
              return (
                <li key={c.user.id} className={open?.id === c.user.id ? 'active' : ''}>
                  <button onClick={() => chat.openConversation(c.user)}>
                    <Avatar user={c.user} online={p?.status === 'online'} />
                    <span className="name">{c.user.username}</span>
                    <span className={`preview ${chat.typing[c.user.id] || chat.recording[c.user.id] ? 'live' : ''}`}>{preview}</span>
                    <span className="when">{clock(c.lastMessage.createdAt)}</span>
                    {c.unreadCount > 0 && <span className="badge" aria-label={`${c.unreadCount} unread`}>{c.unreadCount}</span>}
                  </button>
                </li>
              );
            })}
        </ul>
      </aside>
      {open ? <Conversation key={open.id} chat={chat} me={me} partner={open} /> : <section className="empty">Pick a conversation or find someone to talk to.</section>}
    </div>
  );
}

/** The list's one-line preview; words, not emoji, which not every system can draw. */
const HISTORY_PAGE = 50;

function previewOf(m: Message): string {
  switch (m.type) {
    case 'text': return m.content;
    case 'image': return m.content ? `Photo: ${m.content}` : 'Photo';
    case 'voice': return `Voice note${m.duration ? ` (${duration(m.duration)})` : ''}`;
    case 'audio': return `Audio: ${m.fileName ?? 'file'}`;
    default: return `File: ${m.fileName ?? 'file'}`;
  }
}

function Conversation({ chat, me, partner }: { chat: ReturnType<typeof useChat>; me: User; partner: User }) {
  const list = chat.messages[partner.id] ?? [];
  const bottom = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [exhausted, setExhausted] = useState(false);
  const loadingOlder = useRef(false);
  const p = chat.presence[partner.id];

  // New messages at the end scroll into view; an older page loaded at the top
  // keeps what the reader was looking at where it was.
  const lastId = list.length ? list[list.length - 1].id : '';
  useEffect(() => { bottom.current?.scrollIntoView({ block: 'end' }); }, [lastId]);
  const anchor = useRef<number | null>(null);
  useLayoutEffect(() => {
    const root = scroller.current;
    if (root && anchor.current !== null) {
      root.scrollTop = root.scrollHeight - anchor.current;
      anchor.current = null;
    }
  }, [list.length]);

  // Read receipts for what is actually on screen.
  useEffect(() => {
    const root = scroller.current;
    if (!root) return;
    const seen = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting || document.visibilityState !== 'visible') continue;
        const m = list.find((x) => x.id === (entry.target as HTMLElement).dataset.id);
        if (m) chat.markRead(m);
      }
    }, { root, threshold: 0.6 });
    root.querySelectorAll('[data-unread="true"]').forEach((el) => seen.observe(el));
    return () => seen.disconnect();
  }, [list, chat]);

  async function older() {
    const first = list.find((m) => !m.pending);
    if (!first || loadingOlder.current) return;
    loadingOlder.current = true;
    const root = scroller.current;
    if (root) anchor.current = root.scrollHeight - root.scrollTop;
    const n = await chat.loadHistory(partner.id, first.id).finally(() => { loadingOlder.current = false; });
    if (n === 0) anchor.current = null;
    if (n < HISTORY_PAGE) setExhausted(true);
  }

  const status = chat.typing[partner.id] ? 'typing…' : chat.recording[partner.id] ? 'recording…' : presenceLine(p?.status, p?.lastSeen ?? partner.lastSeen);
  let lastDay = '';
  return (
    <section className="conversation" aria-label={`Conversation with ${partner.username}`}>
      <header>
        <button className="back" aria-label="Back to conversations" onClick={chat.close}>‹</button>
        <Avatar user={partner} online={p?.status === 'online'} />
        <div><strong>{partner.username}</strong><small className="presence" data-testid="presence">{status}</small></div>
      </header>
      <div className="messages" ref={scroller} onScroll={(e) => { if (e.currentTarget.scrollTop === 0 && !exhausted) void older(); }}
        role="log" aria-live="polite" aria-label="Messages">
        {list.map((m, i) => {
          const d = day(m.createdAt);
          const sep = d !== lastDay ? (lastDay = d) : null;
          const grouped = i > 0 && list[i - 1].senderId === m.senderId && Date.parse(m.createdAt) - Date.parse(list[i - 1].createdAt) < 60000;
          return (
            <div key={m.clientMessageId ?? m.id}>
              {sep && <div className="day">{sep}</div>}
              <Bubble m={m} mine={m.senderId === me.id} grouped={grouped} onRetry={chat.retry} onHeard={chat.heard} />
            </div>
          );
        })}
        <div ref={bottom} />
      </div>
      <Composer chat={chat} partner={partner} />
    </section>
  );
}
