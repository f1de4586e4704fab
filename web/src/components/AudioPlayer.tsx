// A voice note or audio file: play/pause, the waveform as a seek bar, elapsed / total.
import { useRef, useState, type KeyboardEvent, type MouseEvent } from 'react';
import { duration as fmt } from '../lib/format';
import { fractionAt } from '../lib/waveform';
import type { Shown } from '../lib/types';

const FLAT = new Array<number>(40).fill(0.15);
/** The share of a note that counts as heard (CONTRACT §4: `audio:listened` at ≥ 95 %). */
const HEARD = 0.95;

export function AudioPlayer({ m, src, onHeard }: { m: Shown; src: string | null; onHeard: (fully: boolean) => void }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const [position, setPosition] = useState(0);
  const [mediaDuration, setMediaDuration] = useState(0);
  const told = useRef({ listening: false, listened: false });
  // MediaRecorder's WebM has no duration in its header; the server measured it.
  const total = m.duration && m.duration > 0 ? m.duration : mediaDuration;
  const bars = m.waveform && m.waveform.length ? m.waveform : FLAT;
  const played = total > 0 ? Math.min(1, position / total) : 0;

  function toggle() {
    const el = audio.current;
    if (!el) return;
    if (el.paused) void el.play().catch(() => setPlaying(false));
    else el.pause();
  }
  function seekTo(fraction: number) {
    const el = audio.current;
    if (!el || total <= 0) return;
    el.currentTime = fraction * total;
    setPosition(el.currentTime);
  }
  function onClick(e: MouseEvent<HTMLDivElement>) {
    const box = e.currentTarget.getBoundingClientRect();
    seekTo(fractionAt(e.clientX - box.left, box.width));
  }
  function onKey(e: KeyboardEvent<HTMLDivElement>) {
    const step = e.key === 'ArrowRight' ? 5 : e.key === 'ArrowLeft' ? -5 : 0;
    if (!step || total <= 0) return;
    e.preventDefault();
    seekTo(Math.min(1, Math.max(0, (position + step) / total)));
  }
  function onTime() {
    const el = audio.current;
    if (!el) return;
    setPosition(el.currentTime);
    if (total > 0 && el.currentTime / total >= HEARD) heardAll();
  }
  function heardAll() {
    if (told.current.listened) return;
    told.current.listened = true;
    onHeard(true);
  }

  return (
    <div className="player">
      <button type="button" className="play" aria-label={playing ? 'Pause' : 'Play'} onClick={toggle} disabled={!src}>
        {playing ? '❚❚' : '▶'}
      </button>
      <div className="wave" role="slider" tabIndex={0} aria-label="Playback position" aria-valuemin={0}
        aria-valuemax={Math.round(total)} aria-valuenow={Math.round(position)} aria-valuetext={`${fmt(position)} of ${fmt(total)}`}
        onClick={onClick} onKeyDown={onKey}>
        {bars.map((v, i) => (
          <span key={i} className={(i + 0.5) / bars.length <= played ? 'played' : ''} style={{ height: `${Math.max(10, Math.min(1, v) * 100)}%` }} />
        ))}
      </div>
      <span className="time" data-testid="audio-time">{playing || position > 0 ? `${fmt(position)} / ${fmt(total)}` : fmt(total)}</span>
      {src && (
        <audio ref={audio} src={src} preload="metadata"
          onLoadedMetadata={(e) => { const d = e.currentTarget.duration; if (Number.isFinite(d)) setMediaDuration(d); }}
          onPlay={() => {
            setPlaying(true);
            if (!told.current.listening) { told.current.listening = true; onHeard(false); }
          }}
          onPause={() => setPlaying(false)}
          onTimeUpdate={onTime}
          onEnded={() => { setPlaying(false); heardAll(); setPosition(0); }} />
      )}
    </div>
  );
}
