import { describe, expect, test } from 'vitest';
import { editable } from '../components/Bubble';
import { wordsOf } from '../components/ChatScreen';
import { snapshot } from '../components/Composer';
import type { Shown } from './types';

const msg = (over: Partial<Shown>): Shown => ({
  id: 'm', senderId: 'a', senderUsername: 'a', senderProfileImage: null, recipientId: 'b', content: 'x', type: 'text',
  status: 'sent', createdAt: new Date().toISOString(), readAt: null, fileUrl: null, fileName: null, fileSize: null,
  fileType: null, waveform: null, duration: null, clientMessageId: null, editedAt: null, deletedAt: null, replyTo: null,
  reactions: [], ...over,
});

describe('messenger features', () => {
  test('search words are letters and digits, as the server reads them', () => {
    expect(wordsOf('Hello, wörld! x2')).toEqual(['Hello', 'wörld', 'x2']);
    expect(wordsOf('  !! ')).toEqual([]);
  });
  test('a message can be edited for a day, never once deleted or unsent yet', () => {
    expect(editable(msg({}))).toBe(true);
    expect(editable(msg({ createdAt: new Date(Date.now() - 25 * 3600 * 1000).toISOString() }))).toBe(false);
    expect(editable(msg({ deletedAt: '2026-01-01T00:00:00.000Z' }))).toBe(false);
    expect(editable(msg({ pending: true }))).toBe(false);
  });
  test('a reply snapshot is what the server makes: 200 characters at most', () => {
    expect(snapshot(msg({ content: 'y'.repeat(300) }))).toEqual({ id: 'm', senderId: 'a', type: 'text', content: 'y'.repeat(200), deleted: false });
  });
});
