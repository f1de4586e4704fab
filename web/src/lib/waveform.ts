// Voice-note waveforms: 100 bars of loudness, each in 0..1, as the server makes them.

export const BARS = 100;

/**
 * Root-mean-square loudness of `n` equal slices of the mixed-down signal,
 * scaled so that the loudest slice is 1. Silence stays all zeros.
 */
export function bars(channels: Float32Array[], n: number = BARS): number[] {
  const length = channels.reduce((m, c) => Math.max(m, c.length), 0);
  const out = new Array<number>(n).fill(0);
  if (length === 0 || channels.length === 0) return out;
  for (let b = 0; b < n; b++) {
    const start = Math.floor((b * length) / n);
    const end = Math.max(start + 1, Math.floor(((b + 1) * length) / n));
    let sum = 0;
    let count = 0;
    for (let i = start; i < end && i < length; i++) {
      let v = 0;
      for (const c of channels) v += c[i] ?? 0;
      v /= channels.length;
      sum += v * v;
      count++;
    }
    out[b] = count ? Math.sqrt(sum / count) : 0;
  }
  const peak = Math.max(...out);
  return peak > 0 ? out.map((v) => Math.round((v / peak) * 1000) / 1000) : out;
}

/** Decodes an audio file in the browser and measures it. */
export async function extractWaveform(data: ArrayBuffer): Promise<{ waveform: number[]; duration: number }> {
  // The sample rate of the context only matters for resampling; 8 kHz is plenty for loudness.
  const context = new OfflineAudioContext(1, 1, 8000);
  const audio = await context.decodeAudioData(data);
  const channels = Array.from({ length: audio.numberOfChannels }, (_, i) => audio.getChannelData(i));
  return { waveform: bars(channels), duration: audio.duration };
}

/** The bar a click at `x` of `width` pixels lands on, as a fraction of the whole. */
export function fractionAt(x: number, width: number): number {
  if (width <= 0) return 0;
  return Math.min(1, Math.max(0, x / width));
}
