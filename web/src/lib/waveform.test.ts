import { describe, expect, it } from 'vitest';
import { bars, fractionAt } from './waveform';

describe('bars', () => {
  it('gives n bars in 0..1 with the loudest at 1', () => {
    const quiet = new Float32Array(500).fill(0.1);
    const loud = new Float32Array(500).fill(0.8);
    const signal = new Float32Array(1000);
    signal.set(quiet, 0);
    signal.set(loud, 500);
    const b = bars([signal], 10);
    expect(b).toHaveLength(10);
    expect(b.slice(0, 5)).toEqual([0.125, 0.125, 0.125, 0.125, 0.125]);
    expect(b.slice(5)).toEqual([1, 1, 1, 1, 1]);
  });

  it('mixes channels down before measuring', () => {
    const left = new Float32Array(100).fill(0.5);
    const right = new Float32Array(100).fill(-0.5);
    expect(bars([left, right], 4)).toEqual([0, 0, 0, 0]);
  });

  it('keeps silence and empty input at zero', () => {
    expect(bars([new Float32Array(50)], 5)).toEqual([0, 0, 0, 0, 0]);
    expect(bars([], 3)).toEqual([0, 0, 0]);
  });

  it('handles fewer samples than bars', () => {
    const b = bars([Float32Array.from([0.2, 0.4])], 4);
    expect(b).toHaveLength(4);
    expect(Math.max(...b)).toBe(1);
    expect(b.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('fractionAt', () => {
  it('clamps to the waveform', () => {
    expect(fractionAt(50, 200)).toBe(0.25);
    expect(fractionAt(-5, 200)).toBe(0);
    expect(fractionAt(500, 200)).toBe(1);
    expect(fractionAt(5, 0)).toBe(0);
  });
});
