import { describe, expect, test } from 'vitest';
import { bytes, duration, presenceLine } from './format';
import { advance, ticks } from './status';
import type { Shown } from './types';

const msg = (over: Partial<Shown>): Shown => ({
  id: 'm', senderId: 'a', senderUsername: 'a', senderProfileImage: null, recipientId: 'b', content: 'x', type: 'text',
  status: 'sent', createdAt: '2026-01-01T00:00:00.000Z', readAt: null, fileUrl: null, fileName: null, fileSize: null,
  fileType: null, waveform: null, duration: null, clientMessageId: null, editedAt: null, deletedAt: null, replyTo: null,
  reactions: [], ...over,
});

describe('format', () => {
  test('durations', () => {
    expect(duration(7.4)).toBe('0:07');
    expect(duration(754)).toBe('12:34');
    expect(duration(null)).toBe('0:00');
  });
  test('sizes', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(3 * 1024 * 1024)).toBe('3.0 MB');
  });
  test('presence lines', () => {
    const now = new Date('2026-03-10T15:00:00');
    expect(presenceLine('online', null, now)).toBe('online');
    expect(presenceLine('offline', new Date('2026-03-10T09:05:00').toISOString(), now)).toBe('last seen today at 09:05');
    expect(presenceLine('offline', new Date('2026-03-09T22:30:00').toISOString(), now)).toBe('last seen yesterday at 22:30');
    expect(presenceLine('offline', null, now)).toBe('');
  });
});

describe('status', () => {
  test('ticks follow the lifecycle', () => {
    expect(ticks(msg({ status: 'sent' })).symbol).toBe('✓');
    expect(ticks(msg({ status: 'delivered' }))).toMatchObject({ symbol: '✓✓', seen: false });
    expect(ticks(msg({ status: 'read' }))).toMatchObject({ symbol: '✓✓', seen: true });
    expect(ticks(msg({ type: 'voice', status: 'listened' }))).toMatchObject({ symbol: '🎤', seen: true });
    expect(ticks(msg({ pending: true })).label).toBe('sending');
  });
  test('status never moves backwards', () => {
    expect(advance(msg({ status: 'read' }), 'delivered').status).toBe('read');
    expect(advance(msg({ status: 'sent' }), 'read').status).toBe('read');
    expect(advance(msg({ type: 'voice', status: 'listening' }), 'delivered').status).toBe('listening');
  });
});
