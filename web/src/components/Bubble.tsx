// One message: text, an image thumbnail, a file to download, or a voice note;
// what it replies to, its reactions, "edited" or "deleted", and its menu
// (hover, right click, long press or the keyboard).
import { useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { bytes, clock } from '../lib/format';
import { ticks } from '../lib/status';
import type { Shown } from '../lib/types';
import { AudioPlayer } from './AudioPlayer';
import { Picker, QuickBar } from './Emoji';
import { FileIcon, MicIcon } from './Icons';
import { ImageViewer } from './ImageViewer';

export interface Actions {
  onReply: (m: Shown) => void;
  onReact: (m: Shown, emoji: string | null) => void;
  onEdit: (m: Shown) => void;
  onDelete: (m: Shown) => void;
  onJump: (id: string) => void;
}

interface Props extends Actions {
  m: Shown;
  me: string;
  mine: boolean;
  grouped: boolean;
  /** Words to mark (a search). */
  marks?: string[];
  /** Who the partner is, to name the author of a quote. */
  partnerName: string;
  onRetry: (m: Shown) => void;
  onHeard: (m: Shown, fully: boolean) => void;
}

const EDIT_WINDOW_MS = 24 * 3600 * 1000;

/** Whether `m` can still be edited by its sender. */
export function editable(m: Shown): boolean {
  return !m.deletedAt && !m.pending && !m.failed && Date.now() - Date.parse(m.createdAt) < EDIT_WINDOW_MS;
}

export function Bubble(props: Props) {
  const { m, me, mine, grouped } = props;
  const [menu, setMenu] = useState(false);
  const [picking, setPicking] = useState(false);
  const press = useRef<ReturnType<typeof setTimeout> | null>(null);
  const t = ticks(m);
  const audio = m.type === 'audio' || m.type === 'voice';
  const deleted = Boolean(m.deletedAt);
  const live = !m.pending && !m.failed && !deleted;

  function close() { setMenu(false); setPicking(false); }
  function onKey(e: KeyboardEvent<HTMLDivElement>) {
    if (!live) return;
    if ((e.key === 'Enter' || e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) && e.target === e.currentTarget) {
      e.preventDefault();
      setMenu(true);
    }
    if (e.key === 'Escape') close();
  }
  const myReaction = m.reactions.find((r) => r.userId === me)?.emoji;

  return (
    <div className={`bubble ${mine ? 'mine' : 'theirs'} ${grouped ? 'grouped' : ''} type-${m.type} ${deleted ? 'deleted' : ''}`} data-id={m.id}
      data-unread={!mine && !m.readAt && !audio && !deleted ? 'true' : 'false'} tabIndex={live ? 0 : -1} onKeyDown={onKey}
      onContextMenu={(e) => { if (live) { e.preventDefault(); setMenu(true); } }}
      onTouchStart={() => { if (live) press.current = setTimeout(() => setMenu(true), 500); }}
      onTouchEnd={() => { if (press.current) clearTimeout(press.current); }}
      aria-label={deleted ? 'Deleted message' : undefined}>
      {live && <button type="button" className="more" aria-label="Message menu" aria-haspopup="menu" aria-expanded={menu} onClick={() => setMenu(!menu)}>⌄</button>}
      {m.replyTo && <Quote m={m} me={me} partnerName={props.partnerName} onJump={props.onJump} />}
      {deleted
        ? <p className="tombstone">{mine ? 'You deleted this message' : 'This message was deleted'}</p>
        : <Body m={m} marks={props.marks} onHeard={props.onHeard} />}
      {m.upload && m.pending && (
        <progress className="upload" max={1} value={m.upload.progress} aria-label={`Uploading ${m.fileName ?? ''}`} />
      )}
      {m.failed && (
        <p className="failed" role="alert">
          {m.error ?? 'Not sent.'}{' '}
          <button type="button" className="link" onClick={() => props.onRetry(m)}>Retry</button>
        </p>
      )}
      <span className="meta">
        {m.editedAt && !deleted && <span className="edited">edited</span>}
        {clock(m.createdAt)}
        {mine && !deleted && (
          <span className={`ticks ${t.seen ? 'seen' : ''} ${audio ? 'audio' : ''}`} data-status={m.failed ? 'failed' : m.pending ? 'pending' : m.status}
            aria-label={t.label} title={t.label}>
            {audio && (m.status === 'listening' || m.status === 'listened') ? <><MicIcon />{m.status === 'listening' && <em> listening…</em>}</> : t.symbol}
          </span>
        )}
      </span>
      {m.reactions.length > 0 && <Reactions m={m} me={me} onReact={props.onReact} />}
      {menu && (
        <div className="menu message-menu" role="menu" onKeyDown={(e) => { if (e.key === 'Escape') { close(); } }}>
          <QuickBar mine={myReaction} onPick={(e) => { props.onReact(m, e); close(); }} onMore={() => setPicking(true)} />
          <button type="button" role="menuitem" autoFocus onClick={() => { props.onReply(m); close(); }}>Reply</button>
          {mine && editable(m) && (
            <button type="button" role="menuitem" onClick={() => { props.onEdit(m); close(); }}>Edit</button>
          )}
          {mine && <button type="button" role="menuitem" className="danger" onClick={() => { props.onDelete(m); close(); }}>Delete for everyone</button>}
          <button type="button" role="menuitem" onClick={close}>Close</button>
        </div>
      )}
      {picking && <Picker onPick={(e) => { props.onReact(m, e); close(); }} onClose={close} />}
    </div>
  );
}

/** The message replied to, as it is now; a click jumps to it. */
function Quote({ m, me, partnerName, onJump }: { m: Shown; me: string; partnerName: string; onJump: (id: string) => void }) {
  const r = m.replyTo;
  if (!r) return null;
  const who = r.senderId === me ? 'You' : partnerName;
  const what = r.deleted ? 'This message was deleted' : r.content || labelOf(r.type);
  return (
    <button type="button" className="quote" onClick={() => onJump(r.id)} aria-label={`Reply to ${who}: ${what}. Show it`}>
      <strong>{who}</strong>
      <span className={r.deleted ? 'tombstone' : ''}>{what}</span>
    </button>
  );
}

export function labelOf(type: Shown['type']): string {
  return { text: 'Message', image: 'Photo', file: 'File', audio: 'Audio', voice: 'Voice note' }[type];
}

/** Reactions grouped by emoji; one's own is marked and a click takes it back (or adds it). */
function Reactions({ m, me, onReact }: { m: Shown; me: string; onReact: Actions['onReact'] }) {
  const groups = new Map<string, number>();
  for (const r of m.reactions) groups.set(r.emoji, (groups.get(r.emoji) ?? 0) + 1);
  const mine = m.reactions.find((r) => r.userId === me)?.emoji;
  return (
    <div className="reactions" aria-label="Reactions">
      {[...groups].map(([emoji, n]) => (
        <button key={emoji} type="button" className={emoji === mine ? 'mine' : ''} aria-pressed={emoji === mine}
          aria-label={`${emoji} ${n}${emoji === mine ? ', yours' : ''}`} onClick={() => onReact(m, emoji)} disabled={Boolean(m.deletedAt)}>
          {emoji}{n > 1 && <small>{n}</small>}
        </button>
      ))}
    </div>
  );
}

/** Text with the words of a search marked. */
export function Marked({ text, marks }: { text: string; marks?: string[] }): ReactNode {
  const words = (marks ?? []).filter((w) => w.length > 0);
  if (!words.length) return text;
  const pattern = new RegExp(`(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'giu');
  return text.split(pattern).map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : part));
}

function Body({ m, marks, onHeard }: { m: Shown; marks?: string[]; onHeard: Props['onHeard'] }) {
  const [viewing, setViewing] = useState(false);
  const caption = m.content ? <p><Marked text={m.content} marks={marks} /></p> : null;
  switch (m.type) {
    case 'image': {
      const thumb = m.upload?.previewUrl ?? m.thumbnailUrl ?? m.fileUrl;
      const alt = m.content || `Photo${m.fileName ? ` ${m.fileName}` : ''} from ${m.senderUsername}`;
      return (
        <>
          {thumb && (
            <button type="button" className="thumb" onClick={() => m.fileUrl && setViewing(true)} aria-label={`Open ${alt}`} disabled={!m.fileUrl}>
              <img src={thumb} alt={alt} loading="lazy" />
            </button>
          )}
          {viewing && m.fileUrl && <ImageViewer src={m.fileUrl} alt={alt} onClose={() => setViewing(false)} />}
          {caption}
        </>
      );
    }
    case 'file':
      return (
        <>
          {m.fileUrl
            ? <a className="file" href={m.fileUrl} download={m.fileName ?? undefined}><FileLine m={m} /></a>
            : <span className="file"><FileLine m={m} /></span>}
          {caption}
        </>
      );
    case 'audio':
    case 'voice':
      return (
        <>
          <AudioPlayer m={m} src={m.fileUrl} onHeard={(fully) => onHeard(m, fully)} />
          {caption}
        </>
      );
    default:
      return caption ?? <p />;
  }
}

function FileLine({ m }: { m: Shown }) {
  return (
    <>
      <FileIcon />
      <span className="file-name">{m.fileName ?? 'file'}</span>
      <span className="file-size">{bytes(m.fileSize)}</span>
    </>
  );
}
