import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { api, type Session } from '../lib/api';
import { clock, day, presenceLine, previewOf } from '../lib/format';
import type { Message, Shown, User } from '../lib/types';
import { useChat } from '../lib/useChat';
import { enablePush, pushState, showUnread, worker, type PushState } from '../lib/notify';
import { Avatar } from './Avatar';
import { Bubble, Marked, editable } from './Bubble';
import { Composer } from './Composer';
import { ProfileMenu } from './ProfileMenu';
import { Settings } from './Settings';

/** The words of a search, as the server reads them (letters and digits). */
export function wordsOf(q: string): string[] {
  return q.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

/** A message found by a search, and who the conversation is with. */
function Hit({ m, me, name, marks, onOpen }: { m: Message; me: string; name: string; marks: string[]; onOpen: () => void }) {
  return (
    <li className="hit">
      <button type="button" onClick={onOpen}>
        <span className="name">{m.senderId === me ? `You → ${name}` : name}</span>
        <span className="when">{day(m.createdAt)} {clock(m.createdAt)}</span>
        <span className="snippet"><Marked text={m.content} marks={marks} /></span>
      </button>
    </li>
  );
}

interface Props {
  session: Session;
  onSignOut: () => void;
  /** The account is gone, or its tokens were revoked: back to logging in. */
  onExpired: () => void;
  onProfile: (user: User) => void;
  onSession: (session: Session) => void;
}

export function ChatScreen({ session, onSignOut, onExpired, onProfile, onSession }: Props) {
  const { token, user: me } = session;
  const chat = useChat(token, me, onExpired);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<User[]>([]);
  const [hits, setHits] = useState<Message[]>([]);
  const [jump, setJump] = useState<string | null>(null);
  const [settings, setSettings] = useState(false);
  const [push, setPush] = useState<PushState | null>(null);
  const [promptDismissed, setPromptDismissed] = useState(() => localStorage.getItem(PROMPT_KEY) === 'dismissed');

  // The service worker: push notifications and the offline app shell.
  useEffect(() => { void worker().then(() => pushState()).then(setPush); }, []);

  // Unread messages in the tab title and on the installed app's badge.
  const unread = chat.conversations.reduce((n, c) => n + c.unreadCount, 0);
  useEffect(() => { showUnread(unread); }, [unread]);
  useEffect(() => () => showUnread(0), []);

  // A notification clicked: its conversation opens (the worker says which;
  // a fresh window gets it as ?c=).
  const { openConversation, conversations } = chat;
  const openById = useCallback(async (id: string) => {
    const known = conversations.find((c) => c.user.id === id)?.user;
    const user = known ?? await api.user(token, id).catch(() => null);
    if (user) openConversation(user);
  }, [conversations, openConversation, token]);
  const wanted = useRef(new URLSearchParams(location.search).get('c'));
  useEffect(() => {
    if (!wanted.current || !conversations.length) return;
    const id = wanted.current;
    wanted.current = null;
    history.replaceState(null, '', '/');
    void openById(id);
  }, [conversations, openById]);
  useEffect(() => {
    if (!('serviceWorker' in navigator)) return;
    const onMessage = (e: MessageEvent) => {
      if (e.data?.type === 'open-conversation' && typeof e.data.id === 'string') void openById(e.data.id);
    };
    navigator.serviceWorker.addEventListener('message', onMessage);
    return () => navigator.serviceWorker.removeEventListener('message', onMessage);
  }, [openById]);

  // Asked once there is someone to hear from, not on first load.
  const askNow = push === 'off' && !promptDismissed && chat.conversations.length > 0
    && typeof Notification !== 'undefined' && Notification.permission === 'default';
  const dismissPrompt = () => { localStorage.setItem(PROMPT_KEY, 'dismissed'); setPromptDismissed(true); };

  useEffect(() => {
    const q = query.trim();
    if (!q) { setFound([]); setHits([]); return; }
    const t = setTimeout(() => {
      api.search(token, q).then(setFound).catch(() => setFound([]));
      api.searchMessages(token, q).then(setHits).catch(() => setHits([]));
    }, 200);
    return () => clearTimeout(t);
  }, [query, token]);

  const nameOf = useCallback((id: string) => chat.conversations.find((c) => c.user.id === id)?.user.username ?? '…', [chat.conversations]);
  async function openHit(m: Message) {
    const partnerId = m.senderId === me.id ? m.recipientId : m.senderId;
    const partner = chat.conversations.find((c) => c.user.id === partnerId)?.user ?? await api.user(token, partnerId);
    setJump(m.id);
    chat.openConversation(partner);
    setQuery('');
  }

  const open = chat.open;
  return (
    <div className={`app ${open ? 'has-open' : ''}`}>
      <aside className="sidebar" aria-label="Conversations">
        <header>
          <ProfileMenu token={token} me={me} onChange={onProfile} onSettings={() => setSettings(true)} />
          <strong>{me.username}</strong>
          <span className={`conn ${chat.connection}`} role="status">{chat.connection === 'online' ? '' : chat.connection === 'connecting' ? 'connecting…' : 'offline, reconnecting…'}</span>
          <button className="link" onClick={onSignOut}>Log out</button>
        </header>
        {askNow && (
          <div className="notify-prompt" role="region" aria-label="Notifications">
            <span>Know when a message arrives, even with Chatr closed.</span>
            <button type="button" onClick={() => void enablePush(token).then(setPush).catch(() => setPush('off')).finally(dismissPrompt)}>Turn on notifications</button>
            <button type="button" className="link" onClick={dismissPrompt}>Not now</button>
          </div>
        )}
        <input className="search" type="search" placeholder="Search people and messages" aria-label="Find people" value={query} onChange={(e) => setQuery(e.target.value)} />
        <ul className="list">
          {query.trim()
            ? <>
              {found.length > 0 && <li className="section">People</li>}
              {found.map((u) => (
                <li key={u.id}><button onClick={() => { chat.openConversation(u); setQuery(''); }}><Avatar user={u} /><span className="name">{u.username}</span></button></li>
              ))}
              {hits.length > 0 && <li className="section">Messages</li>}
              {hits.map((m) => (
                <Hit key={m.id} m={m} me={me.id} name={nameOf(m.senderId === me.id ? m.recipientId : m.senderId)}
                  marks={wordsOf(query)} onOpen={() => void openHit(m)} />
              ))}
              {!found.length && !hits.length && <li className="section none">Nothing found</li>}
            </>
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
      {open
        ? <Conversation key={open.id} chat={chat} me={me} partner={open} jump={jump} onJumped={() => setJump(null)} />
        : <section className="empty">Pick a conversation or find someone to talk to.</section>}
      {settings && <Settings token={token} me={me} onClose={() => setSettings(false)} onProfile={onProfile}
        onSession={onSession} onSignedOut={onExpired} push={push} onPush={setPush} />}
    </div>
  );
}

const HISTORY_PAGE = 50;

/** Where "Not now" on the notifications prompt is remembered. */
const PROMPT_KEY = 'chatr.notify.prompt';


interface ConversationProps {
  chat: ReturnType<typeof useChat>;
  me: User;
  partner: User;
  /** A message to show as soon as the conversation opens (a search hit). */
  jump: string | null;
  onJumped: () => void;
}

function Conversation({ chat, me, partner, jump, onJumped }: ConversationProps) {
  const list = chat.messages[partner.id] ?? [];
  const bottom = useRef<HTMLDivElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const [exhausted, setExhausted] = useState(false);
  const loadingOlder = useRef(false);
  const p = chat.presence[partner.id];
  const [replying, setReplying] = useState<Shown | null>(null);
  const [editing, setEditing] = useState<Shown | null>(null);
  const [deleting, setDeleting] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [menu, setMenu] = useState(false);
  const [searching, setSearching] = useState(false);
  const [q, setQ] = useState('');
  const [found, setFound] = useState<Message[]>([]);
  const blocked = chat.blocked(partner.id);

  // New messages at the end scroll into view; an older page loaded at the top
  // keeps what the reader was looking at where it was.
  const lastId = list.length ? list[list.length - 1].id : '';
  useEffect(() => { if (!flash) bottom.current?.scrollIntoView({ block: 'end' }); }, [lastId, flash]);
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

  /** Shows message `id`: older pages are loaded until it is there, then it is scrolled to and flashes. */
  const show = useCallback(async (id: string) => {
    if (!(await chat.reveal(partner.id, id))) { setProblem('That message is no longer in this conversation.'); return; }
    setFlash(id);
    requestAnimationFrame(() => {
      scroller.current?.querySelector(`[data-id="${id}"]`)?.scrollIntoView({ block: 'center' });
    });
    setTimeout(() => setFlash((f) => (f === id ? null : f)), 2000);
  }, [chat, partner.id]);

  useEffect(() => {
    if (!jump) return;
    onJumped();
    void show(jump);
  }, [jump, onJumped, show]);

  useEffect(() => {
    const words = q.trim();
    if (!searching || !words) { setFound([]); return; }
    const t = setTimeout(() => { void chat.searchIn(partner.id, words).then(setFound); }, 200);
    return () => clearTimeout(t);
  }, [q, searching, chat, partner.id]);

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

  async function react(m: Shown, emoji: string | null) {
    const mine = m.reactions.find((r) => r.userId === me.id)?.emoji;
    setProblem(await chat.react(m, emoji !== null && emoji === mine ? null : emoji));
  }
  function editLast() {
    const last = [...list].reverse().find((m) => m.senderId === me.id && editable(m));
    if (last) { setReplying(null); setEditing(last); }
  }
  async function confirmDelete() {
    if (!deleting) return;
    const m = deleting;
    setDeleting(null);
    setProblem(await chat.unsend(m));
  }

  const status = blocked ? 'blocked' : chat.typing[partner.id] ? 'typing…' : chat.recording[partner.id] ? 'recording…' : presenceLine(p?.status, p?.lastSeen ?? partner.lastSeen);
  const marks = searching ? wordsOf(q) : [];
  let lastDay = '';
  return (
    <section className="conversation" aria-label={`Conversation with ${partner.username}`}>
      <header>
        <button className="back" aria-label="Back to conversations" onClick={chat.close}>‹</button>
        <Avatar user={partner} online={!blocked && p?.status === 'online'} />
        <div><strong>{partner.username}</strong><small className="presence" data-testid="presence">{status}</small></div>
        <div className="actions">
          <button type="button" className="icon" aria-label="Search in this conversation" aria-pressed={searching}
            onClick={() => { setSearching(!searching); setQ(''); }}>⌕</button>
          <div className="profile">
            <button type="button" className="icon" aria-label="Conversation menu" aria-haspopup="menu" aria-expanded={menu} onClick={() => setMenu(!menu)}>⋮</button>
            {menu && (
              <div className="menu right" role="menu">
                <button type="button" role="menuitem" onClick={() => { setMenu(false); void chat.setBlocked(partner, !blocked); }}>
                  {blocked ? `Unblock ${partner.username}` : `Block ${partner.username}`}
                </button>
              </div>
            )}
          </div>
        </div>
      </header>
      {searching && (
        <div className="in-search">
          <input type="search" autoFocus placeholder={`Search with ${partner.username}`} aria-label="Search in this conversation" value={q}
            onChange={(e) => setQ(e.target.value)} onKeyDown={(e) => { if (e.key === 'Escape') { setSearching(false); setQ(''); } }} />
          {q.trim() && (
            <ul className="hits" aria-label="Found messages">
              {found.map((m) => <Hit key={m.id} m={m} me={me.id} name={partner.username} marks={marks} onOpen={() => void show(m.id)} />)}
              {!found.length && <li className="section none">Nothing found</li>}
            </ul>
          )}
        </div>
      )}
      <div className="messages" ref={scroller} onScroll={(e) => { if (e.currentTarget.scrollTop === 0 && !exhausted) void older(); }}
        role="log" aria-live="polite" aria-label="Messages">
        {list.map((m, i) => {
          const d = day(m.createdAt);
          const sep = d !== lastDay ? (lastDay = d) : null;
          const grouped = i > 0 && list[i - 1].senderId === m.senderId && Date.parse(m.createdAt) - Date.parse(list[i - 1].createdAt) < 60000;
          return (
            <div key={m.clientMessageId ?? m.id} className={flash === m.id ? 'flash' : ''}>
              {sep && <div className="day">{sep}</div>}
              <Bubble m={m} me={me.id} mine={m.senderId === me.id} grouped={grouped} marks={marks} partnerName={partner.username}
                onRetry={chat.retry} onHeard={chat.heard}
                onReply={(x) => { setEditing(null); setReplying(x); }} onReact={(x, e) => void react(x, e)}
                onEdit={(x) => { setReplying(null); setEditing(x); }} onDelete={setDeleting} onJump={(id) => void show(id)} />
            </div>
          );
        })}
        <div ref={bottom} />
      </div>
      {problem && <p className="problem" role="alert">{problem} <button type="button" className="link" onClick={() => setProblem(null)}>OK</button></p>}
      {blocked
        ? (
          <div className="blocked-banner" role="status">
            You blocked {partner.username}. You cannot write to each other, and neither of you sees the other online.
            <button type="button" onClick={() => void chat.setBlocked(partner, false)}>Unblock</button>
          </div>
        )
        : <Composer chat={chat} partner={partner} me={me} replying={replying} editing={editing}
          onDone={() => { setReplying(null); setEditing(null); }} onEditLast={editLast} />}
      {deleting && (
        <dialog open className="confirm" aria-label="Delete for everyone?" onKeyDown={(e) => { if (e.key === 'Escape') setDeleting(null); }}>
          <p>Delete this message for everyone? {partner.username} will see that a message was deleted.</p>
          <div>
            <button type="button" onClick={() => setDeleting(null)}>Cancel</button>
            <button type="button" className="danger" autoFocus onClick={() => void confirmDelete()}>Delete</button>
          </div>
        </dialog>
      )}
    </section>
  );
}
