// What the ticks on one's own messages show.
import type { Shown } from './types';

export interface Ticks {
  symbol: string;
  /** Coloured: read, or a voice note listened to. */
  seen: boolean;
  label: string;
}

export function ticks(m: Shown): Ticks {
  if (m.failed) return { symbol: '!', seen: false, label: 'not sent, will retry' };
  if (m.pending) return { symbol: '🕓', seen: false, label: 'sending' };
  const audio = m.type === 'audio' || m.type === 'voice';
  switch (m.status) {
    case 'sent': return { symbol: '✓', seen: false, label: 'sent' };
    case 'delivered': return { symbol: '✓✓', seen: false, label: 'delivered' };
    case 'read': return { symbol: '✓✓', seen: true, label: 'read' };
    case 'listening': return { symbol: audio ? '🎤' : '✓✓', seen: false, label: 'listening…' };
    case 'listened': return { symbol: audio ? '🎤' : '✓✓', seen: true, label: 'listened' };
    default: return { symbol: '✓', seen: false, label: String(m.status) };
  }
}

const ORDER: Record<string, string[]> = {
  text: ['sent', 'delivered', 'read'],
  audio: ['sent', 'delivered', 'listening', 'listened'],
};

/** Status only moves forward, as on the server: a late event never goes back. */
export function advance(m: Shown, next: string): Shown {
  const steps = m.type === 'audio' || m.type === 'voice' ? ORDER.audio : ORDER.text;
  return steps.indexOf(next) > steps.indexOf(m.status) ? { ...m, status: next as Shown['status'] } : m;
}
