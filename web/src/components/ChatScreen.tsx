import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { api, type Session } from '../lib/api';
import { clock, day, presenceLine } from '../lib/format';
import { ticks } from '../lib/status';
import type { Shown, User } from '../lib/types';
import { useChat } from '../lib/useChat';
import { Avatar } from './Avatar';

const TYPING_IDLE_MS = 3000;

export function ChatScreen({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const { token, user: me } = session;
  const chat = useChat(token, me);
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
          <Avatar user={me} />
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
              const preview = chat.typing[c.user.id] ? 'typing…' : chat.recording[c.user.id] ? 'recording…' : c.lastMessage.type === 'text' ? c.lastMessage.content : `📎 ${c.lastMessage.type}`;
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

function Conversation({ chat, me, partner }: { chat: ReturnType<typeof useChat>; me: User; partner: User }) {
  const [draft, setDraft] = useState('');
  const list = chat.messages[partner.id] ?? [];
  const bottom = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const [exhausted, setExhausted] = useState(false);
  const p = chat.presence[partner.id];

  useEffect(() => { bottom.current?.scrollIntoView({ block: 'end' }); }, [list.length]);

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

  function stopTyping() {
    if (typingTimer.current) { clearTimeout(typingTimer.current); typingTimer.current = null; chat.typingNow(partner.id, false); }
  }
  function onType(value: string) {
    setDraft(value);
    if (!value) { stopTyping(); return; }
    if (!typingTimer.current) chat.typingNow(partner.id, true);
    else clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(stopTyping, TYPING_IDLE_MS);
  }
  function submit() {
    const text = draft.trim();
    if (!text) return;
    if (typingTimer.current) { clearTimeout(typingTimer.current); typingTimer.current = null; }
    chat.send(partner, text);
    setDraft('');
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
  }
  async function older() {
    const first = list.find((m) => !m.pending);
    if (!first) return;
    const n = await chat.loadHistory(partner.id, first.id);
    if (n === 0) setExhausted(true);
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
          const mine = m.senderId === me.id;
          const grouped = i > 0 && list[i - 1].senderId === m.senderId && Date.parse(m.createdAt) - Date.parse(list[i - 1].createdAt) < 60000;
          return (
            <div key={m.clientMessageId ?? m.id}>
              {sep && <div className="day">{sep}</div>}
              <Bubble m={m} mine={mine} grouped={grouped} />
            </div>
          );
        })}
        <div ref={bottom} />
      </div>
      <form className="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <textarea rows={1} placeholder="Message" aria-label="Message" value={draft} onChange={(e) => onType(e.target.value)} onKeyDown={onKey} onBlur={stopTyping} />
        <button type="submit" aria-label="Send" disabled={!draft.trim()}>➤</button>
      </form>
    </section>
  );
}

function Bubble({ m, mine, grouped }: { m: Shown; mine: boolean; grouped: boolean }) {
  const t = ticks(m);
  return (
    <div className={`bubble ${mine ? 'mine' : 'theirs'} ${grouped ? 'grouped' : ''}`} data-id={m.id} data-unread={!mine && !m.readAt ? 'true' : 'false'}>
      <p>{m.content}</p>
      <span className="meta">
        {clock(m.createdAt)}
        {mine && <span className={`ticks ${t.seen ? 'seen' : ''}`} data-status={m.failed ? 'failed' : m.pending ? 'pending' : m.status} aria-label={t.label} title={t.label}>{t.symbol}</span>}
      </span>
    </div>
  );
}
