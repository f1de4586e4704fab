// Writing: text with typing indicators, attachments, and voice notes with recording indicators.
import { useRef, useState, type ChangeEvent, type KeyboardEvent } from 'react';
import { duration } from '../lib/format';
import type { Message, ReplyTo, Shown, User } from '../lib/types';
import { labelOf } from './Bubble';
import type { useChat } from '../lib/useChat';
import { useRecorder } from '../lib/useRecorder';
import { ClipIcon, MicIcon } from './Icons';

const TYPING_IDLE_MS = 3000;
const PICTURES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

/** What an attached file is sent as: the server checks the bytes anyway. */
export function kindOf(file: File): Message['type'] {
  if (PICTURES.includes(file.type)) return 'image';
  if (file.type.startsWith('audio/')) return 'audio';
  return 'file';
}

/** The snapshot a new reply carries (the server makes the same one). */
export function snapshot(m: Shown): ReplyTo {
  return { id: m.id, senderId: m.senderId, type: m.type, content: m.content.slice(0, 200), deleted: Boolean(m.deletedAt) };
}

interface Props {
  chat: ReturnType<typeof useChat>;
  partner: User;
  me: User;
  /** The message being answered, shown above the field. */
  replying: Shown | null;
  /** The message being edited: the field holds its text, Enter saves it. */
  editing: Shown | null;
  onDone: () => void;
  /** ↑ in an empty field: edit one's last message. */
  onEditLast: () => void;
}

export function Composer({ chat, partner, me, replying, editing, onDone, onEditLast }: Props) {
  const [draft, setDraft] = useState('');
  const [editText, setEditText] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const field = useRef<HTMLTextAreaElement>(null);
  const editingId = editing?.id ?? null;
  const [shownFor, setShownFor] = useState<string | null>(null);
  if (editingId !== shownFor) {
    // A new message to edit: its text goes into the field.
    setShownFor(editingId);
    setEditText(editing ? editing.content : null);
  }
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const rec = useRecorder();

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
  async function submit() {
    if (editing && editText !== null) {
      const text = editText.trim();
      if (!text && editing.type === 'text') return;
      const refused = await chat.edit(editing, text);
      if (refused) { setProblem(refused); return; }
      setProblem(null);
      onDone();
      return;
    }
    const text = draft.trim();
    if (!text) return;
    // `send` emits typing:stop itself.
    if (typingTimer.current) { clearTimeout(typingTimer.current); typingTimer.current = null; }
    chat.send(partner, text, replying ? snapshot(replying) : null);
    setDraft('');
    onDone();
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void submit(); }
    if (e.key === 'Escape' && (editing || replying)) { e.preventDefault(); setProblem(null); onDone(); }
    if (e.key === 'ArrowUp' && !editing && !draft) { e.preventDefault(); onEditLast(); }
  }
  function onPick(e: ChangeEvent<HTMLInputElement>) {
    for (const file of Array.from(e.target.files ?? [])) chat.sendFile(partner, file, file.name, kindOf(file), undefined, replying ? snapshot(replying) : null);
    e.target.value = '';
    onDone();
  }
  async function record() {
    stopTyping();
    if (await rec.start()) chat.recordingNow(partner.id, true);
  }
  async function sendVoice() {
    const note = await rec.finish();
    chat.recordingNow(partner.id, false);
    if (note) chat.sendFile(partner, note.blob, note.fileName, 'voice', note.duration, replying ? snapshot(replying) : null);
    onDone();
  }
  function cancelVoice() {
    rec.cancel();
    chat.recordingNow(partner.id, false);
  }

  if (rec.state !== 'idle') {
    return (
      <div className="composer recording" role="group" aria-label="Recording a voice note">
        <button type="button" className="cancel" aria-label="Cancel recording" onClick={cancelVoice}>✕</button>
        <span className="rec-dot" aria-hidden="true" />
        <span className="rec-time" role="timer" aria-label="Recording time">{duration(rec.elapsed)}</span>
        <span className="meter" role="meter" aria-label="Microphone level" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(rec.level * 100)}>
          <span style={{ width: `${Math.round(rec.level * 100)}%` }} />
        </span>
        <button type="button" aria-label="Send voice note" onClick={() => void sendVoice()} disabled={rec.state !== 'recording'}>➤</button>
      </div>
    );
  }
  const about = editing ?? replying;
  const value = editing ? editText ?? '' : draft;
  return (
    <div className="composer-wrap">
      {about && (
        <div className={`composing ${editing ? 'editing' : 'replying'}`} role="group" aria-label={editing ? 'Editing a message' : 'Replying to a message'}>
          <div>
            <strong>{editing ? 'Edit message' : `Reply to ${replying?.senderId === me.id ? 'yourself' : partner.username}`}</strong>
            <span>{about.content || labelOf(about.type)}</span>
          </div>
          <button type="button" className="cancel" aria-label={editing ? 'Cancel editing' : 'Cancel reply'} onClick={() => { setProblem(null); onDone(); field.current?.focus(); }}>✕</button>
        </div>
      )}
      <form className="composer" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {!editing && <button type="button" className="attach" aria-label="Attach a file or picture" onClick={() => picker.current?.click()}><ClipIcon /></button>}
        <input ref={picker} type="file" multiple hidden onChange={onPick} data-testid="attach-input" />
        <textarea ref={field} rows={1} autoFocus placeholder={editing ? 'Edit message' : 'Message'} aria-label="Message" value={value}
          onChange={(e) => (editing ? setEditText(e.target.value) : onType(e.target.value))} onKeyDown={onKey} onBlur={stopTyping} />
        {editing
          ? <button type="submit" aria-label="Save edit">✓</button>
          : draft.trim()
            ? <button type="submit" aria-label="Send">➤</button>
            : <button type="button" aria-label="Record a voice note" onClick={() => void record()}><MicIcon size={22} /></button>}
        {(rec.error || problem) && <p className="error" role="alert">{problem ?? rec.error}</p>}
      </form>
    </div>
  );
}
