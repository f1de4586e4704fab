// Time and size formatting, pure so that it can be tested.
import type { Message } from './types';

const pad = (n: number) => String(n).padStart(2, '0');

/** "14:05" in local time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "Today", "Yesterday" or a date, for day separators. */
export function day(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (sameDay(d, now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(d, yesterday)) return 'Yesterday';
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

/** The header line under a contact's name. */
export function presenceLine(status: 'online' | 'away' | 'offline' | undefined, lastSeen: string | null, now: Date = new Date()): string {
  if (status === 'online') return 'online';
  if (status === 'away') return 'away';
  if (!lastSeen) return '';
  const d = day(lastSeen, now);
  const when = d === 'Today' ? 'today' : d === 'Yesterday' ? 'yesterday' : d;
  return `last seen ${when} at ${clock(lastSeen)}`;
}

/** "0:07", "12:34" for media durations in seconds. */
export function duration(seconds: number | null | undefined): string {
  const s = Math.max(0, Math.round(seconds ?? 0));
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** "1.2 MB" for file sizes. */
export function bytes(n: number | null | undefined): string {
  const v = n ?? 0;
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KB`;
  return `${(v / 1024 / 1024).toFixed(1)} MB`;
}

/** The list's one-line preview; words, not emoji, which not every system can draw. */
export function previewOf(m: Message): string {
  if (m.deletedAt) return 'This message was deleted';
  switch (m.type) {
    case 'text': return m.content;
    case 'image': return m.content ? `Photo: ${m.content}` : 'Photo';
    case 'voice': return `Voice note${m.duration ? ` (${duration(m.duration)})` : ''}`;
    case 'audio': return `Audio: ${m.fileName ?? 'file'}`;
    default: return `File: ${m.fileName ?? 'file'}`;
  }
}
