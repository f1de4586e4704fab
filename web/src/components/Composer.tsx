// Writing: text with typing indicators, attachments, and voice notes with recording indicators.
import { useRef, useState, type ChangeEvent, type KeyboardEvent } from 'react';
import { duration } from '../lib/format';
import type { Message, User } from '../lib/types';
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

export function Composer({ chat, partner }: { chat: ReturnType<typeof useChat>; partner: User }) {
  const [draft, setDraft] = useState('');
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
  function submit() {
    const text = draft.trim();
    if (!text) return;
    // `send` emits typing:stop itself.
    if (typingTimer.current) { clearTimeout(typingTimer.current); typingTimer.current = null; }
    chat.send(partner, text);
    setDraft('');
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
  }
  function onPick(e: ChangeEvent<HTMLInputElement>) {
    for (const file of Array.from(e.target.files ?? [])) chat.sendFile(partner, file, file.name, kindOf(file));
    e.target.value = '';
  }
  async function record() {
    stopTyping();
    if (await rec.start()) chat.recordingNow(partner.id, true);
  }
  async function sendVoice() {
    const note = await rec.finish();
    chat.recordingNow(partner.id, false);
    if (note) chat.sendFile(partner, note.blob, note.fileName, 'voice', note.duration);
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
  return (
    <form className="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
      <button type="button" className="attach" aria-label="Attach a file or picture" onClick={() => picker.current?.click()}><ClipIcon /></button>
      <input ref={picker} type="file" multiple hidden onChange={onPick} data-testid="attach-input" />
      <textarea rows={1} autoFocus placeholder="Message" aria-label="Message" value={draft} onChange={(e) => onType(e.target.value)} onKeyDown={onKey} onBlur={stopTyping} />
      {draft.trim()
        ? <button type="submit" aria-label="Send">➤</button>
        : <button type="button" aria-label="Record a voice note" onClick={() => void record()}><MicIcon size={22} /></button>}
      {rec.error && <p className="error" role="alert">{rec.error}</p>}
    </form>
  );
}
