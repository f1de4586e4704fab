// Recording a voice note: MediaRecorder for the sound, an AnalyserNode for the level meter.
import { useCallback, useEffect, useRef, useState } from 'react';

export type RecorderState = 'idle' | 'starting' | 'recording';

export interface Recorded { blob: Blob; fileName: string; duration: number }

const TYPES: [string, string][] = [
  ['audio/webm;codecs=opus', 'webm'],
  ['audio/ogg;codecs=opus', 'ogg'],
  ['audio/mp4', 'm4a'],
];

interface Live {
  stream: MediaStream;
  recorder: MediaRecorder;
  chunks: Blob[];
  context: AudioContext;
  frame: number;
  timer: ReturnType<typeof setInterval>;
  startedAt: number;
  ext: string;
}

export function useRecorder() {
  const [state, setState] = useState<RecorderState>('idle');
  const [level, setLevel] = useState(0);
  const [elapsed, setElapsed] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const live = useRef<Live | null>(null);

  const release = useCallback(() => {
    const l = live.current;
    live.current = null;
    if (!l) return;
    cancelAnimationFrame(l.frame);
    clearInterval(l.timer);
    l.stream.getTracks().forEach((t) => t.stop());
    void l.context.close().catch(() => undefined);
    setState('idle');
    setLevel(0);
    setElapsed(0);
  }, []);

  useEffect(() => release, [release]);

  const start = useCallback(async (): Promise<boolean> => {
    if (live.current) return true;
    setError(null);
    setState('starting');
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const [mimeType, ext] = TYPES.find(([t]) => MediaRecorder.isTypeSupported(t)) ?? ['', 'webm'];
      const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
      const chunks: Blob[] = [];
      recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 1024;
      context.createMediaStreamSource(stream).connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      const startedAt = performance.now();
      const l: Live = { stream, recorder, chunks, context, frame: 0, timer: 0 as unknown as ReturnType<typeof setInterval>, startedAt, ext };
      const meter = () => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const v of samples) sum += v * v;
        // Speech RMS sits around 0.05–0.3; stretch it so the meter moves visibly.
        setLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
        l.frame = requestAnimationFrame(meter);
      };
      l.frame = requestAnimationFrame(meter);
      l.timer = setInterval(() => setElapsed((performance.now() - startedAt) / 1000), 200);
      live.current = l;
      recorder.start(250);
      setState('recording');
      return true;
    } catch (err) {
      setError(err instanceof DOMException && err.name === 'NotAllowedError' ? 'Microphone access was refused' : 'No microphone available');
      release();
      return false;
    }
  }, [release]);

  /** Stops and hands over what was recorded. */
  const finish = useCallback(async (): Promise<Recorded | null> => {
    const l = live.current;
    if (!l) return null;
    const duration = (performance.now() - l.startedAt) / 1000;
    const done = new Promise<void>((resolve) => { l.recorder.onstop = () => resolve(); });
    l.recorder.stop();
    await done;
    release();
    const blob = new Blob(l.chunks, { type: l.recorder.mimeType || 'audio/webm' });
    return blob.size ? { blob, fileName: `voice-note.${l.ext}`, duration } : null;
  }, [release]);

  const cancel = useCallback(() => {
    const l = live.current;
    if (!l) return;
    l.recorder.onstop = null;
    if (l.recorder.state !== 'inactive') l.recorder.stop();
    release();
  }, [release]);

  return { state, level, elapsed, error, start, finish, cancel };
}
