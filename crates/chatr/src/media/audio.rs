//! Audio uploads: the demuxer proves the file holds audio and tells its
//! length; when the codec can be decoded, the samples give a 100-bar RMS
//! waveform. Blocking work: call from `spawn_blocking`.

use std::path::Path;

use symphonia::core::{
    codecs::{
        CodecParameters,
        audio::{
            AudioCodecParameters, AudioDecoder, AudioDecoderOptions, well_known::CODEC_ID_OPUS,
        },
    },
    errors::Error as AudioError,
    formats::{FormatOptions, TrackType, probe::Hint},
    io::{MediaSourceStream, MediaSourceStreamOptions},
    meta::MetadataOptions,
    packet::Packet,
};

use crate::error::{Error, Result};

pub const WAVEFORM_BARS: usize = 100;
/// Opus always decodes at 48 kHz; its longest frame is 120 ms.
const OPUS_RATE: u32 = 48_000;
const OPUS_MAX_FRAME: usize = 5_760;
/// Frames per RMS block; bars are made from blocks, so memory stays small for long files.
const BLOCK_FRAMES: usize = 1024;
/// Decoding stops past this much audio (the waveform is then left to the
/// client) and reading stops past this many packets: a small file must not
/// buy minutes of CPU.
const MAX_DECODED_SECONDS: u64 = 2 * 3600;
const MAX_PACKETS: usize = 4_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Seconds, when the container or the samples tell.
    pub duration: Option<f64>,
    /// `WAVEFORM_BARS` values in 0..=1, when the codec could be decoded.
    pub waveform: Option<Vec<f32>>,
}

fn not_audio() -> Error {
    Error::invalid_field("file", "the file is not a recognised audio file")
}

/// Probes, measures and decodes the audio file at `path`. A panic inside the
/// demuxers or decoders (fuzzing found integer overflows in symphonia's MP4
/// reader on hostile sample tables) is a file that is not audio, never a
/// failed request.
pub fn analyze(path: &Path, ext: &str) -> Result<Analysis> {
    std::panic::catch_unwind(|| analyze_file(path, ext)).unwrap_or_else(|_| Err(not_audio()))
}

fn analyze_file(path: &Path, ext: &str) -> Result<Analysis> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::internal(format!("reading an upload: {e}")))?;
    let stream = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|_| not_audio())?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(not_audio)?
        .clone();
    let Some(CodecParameters::Audio(params)) = &track.codec_params else {
        return Err(not_audio());
    };
    let container_duration = match (track.time_base, track.duration) {
        (Some(tb), Some(d)) => tb.calc_duration(d).map(|t| t.as_secs_f64()),
        _ => None,
    };
    let mut decoder = Decoder::for_track(params)?;
    let sample_rate = match decoder {
        Some(Decoder::Opus(..)) => Some(OPUS_RATE),
        _ => params.sample_rate,
    };

    let mut blocks = RmsBlocks::default();
    let mut last_end: u64 = 0;
    let max_frames = u64::from(sample_rate.unwrap_or(OPUS_RATE)) * MAX_DECODED_SECONDS;
    let mut packets = 0;
    // A truncated tail (a recording cut short) still counts up to where it breaks.
    while let Ok(Some(packet)) = format.next_packet() {
        packets += 1;
        if packets > MAX_PACKETS {
            break;
        }
        if packet.track_id != track.id {
            continue;
        }
        if decoder.is_some() && blocks.frames > max_frames {
            decoder = None;
            blocks = RmsBlocks::default();
        }
        let end = u64::try_from(packet.pts.get()).unwrap_or(0) + packet.dur.get();
        last_end = last_end.max(end);
        if let Some(dec) = decoder.as_mut()
            && dec.decode_into(&packet, &mut blocks).is_err()
        {
            // Undecodable after all: keep the length, ask the client for the waveform.
            decoder = None;
            blocks = RmsBlocks::default();
        }
    }

    let decoded = decoder.is_some() && blocks.frames > 0;
    let decoded_duration = match sample_rate {
        Some(rate) if decoded => Some(blocks.frames as f64 / f64::from(rate)),
        _ => None,
    };
    let packet_duration = track
        .time_base
        .filter(|_| last_end > 0)
        .and_then(|tb| tb.calc_duration(symphonia::core::units::Duration::from(last_end)))
        .map(|t| t.as_secs_f64());
    let duration = decoded_duration
        .or(container_duration)
        .or(packet_duration)
        .filter(|d| d.is_finite() && *d > 0.0);
    let waveform = decoded.then(|| blocks.bars(WAVEFORM_BARS));
    Ok(Analysis { duration, waveform })
}

/// Symphonia's decoders, plus Opus, which symphonia does not decode.
enum Decoder {
    Symphonia(Box<dyn AudioDecoder>, Vec<f32>),
    Opus(Box<opus_decoder::OpusDecoder>, usize, Vec<f32>),
}

impl Decoder {
    /// `None` when the codec is known but cannot be decoded here.
    fn for_track(params: &AudioCodecParameters) -> Result<Option<Self>> {
        match symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
        {
            Ok(decoder) => Ok(Some(Self::Symphonia(decoder, Vec::new()))),
            Err(AudioError::Unsupported(_)) if params.codec == CODEC_ID_OPUS => {
                let channels = params
                    .channels
                    .as_ref()
                    .map_or(1, |c| c.count())
                    .clamp(1, 2);
                Ok(opus_decoder::OpusDecoder::new(OPUS_RATE, channels)
                    .ok()
                    .map(|d| {
                        Self::Opus(Box::new(d), channels, vec![0.0; OPUS_MAX_FRAME * channels])
                    }))
            }
            Err(AudioError::Unsupported(_)) => Ok(None),
            Err(_) => Err(not_audio()),
        }
    }

    /// Decodes one packet into the RMS blocks; `Err` when decoding must stop.
    fn decode_into(
        &mut self,
        packet: &Packet,
        blocks: &mut RmsBlocks,
    ) -> std::result::Result<(), ()> {
        match self {
            Self::Symphonia(dec, samples) => match dec.decode(packet) {
                Ok(buffer) => {
                    let channels = buffer.spec().channels().count().max(1);
                    buffer.copy_to_vec_interleaved(samples);
                    blocks.push_interleaved(samples, channels);
                    Ok(())
                }
                // A corrupt packet is skipped, as players do.
                Err(AudioError::DecodeError(_)) => Ok(()),
                Err(_) => Err(()),
            },
            Self::Opus(dec, channels, pcm) => {
                // A young decoder: a panic on hostile input must cost the
                // waveform, never the upload or the server.
                let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    dec.decode_float(&packet.data, pcm, false)
                }));
                match decoded {
                    Ok(Ok(frames)) => {
                        blocks.push_interleaved(
                            &pcm[..(frames * *channels).min(pcm.len())],
                            *channels,
                        );
                        Ok(())
                    }
                    Ok(Err(_)) => Ok(()),
                    Err(_) => Err(()),
                }
            }
        }
    }
}

/// Sum of squares per block of frames (channels mixed down).
#[derive(Default)]
struct RmsBlocks {
    sums: Vec<f64>,
    counts: Vec<u32>,
    frames: u64,
}

impl RmsBlocks {
    fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        for frame in samples.chunks_exact(channels) {
            let mono = frame.iter().sum::<f32>() / channels as f32;
            if self.frames.is_multiple_of(BLOCK_FRAMES as u64) {
                self.sums.push(0.0);
                self.counts.push(0);
            }
            if let (Some(sum), Some(count)) = (self.sums.last_mut(), self.counts.last_mut()) {
                *sum += f64::from(mono) * f64::from(mono);
                *count += 1;
            }
            self.frames += 1;
        }
    }

    /// `n` bars of RMS, scaled so that the loudest bar is 1.
    fn bars(&self, n: usize) -> Vec<f32> {
        let blocks = self.sums.len().max(1);
        let mut bars = Vec::with_capacity(n);
        for i in 0..n {
            let (start, end) = (
                i * blocks / n,
                ((i + 1) * blocks / n).max(i * blocks / n + 1).min(blocks),
            );
            let (sum, count) = (start..end)
                .filter(|b| *b < self.sums.len())
                .fold((0.0, 0u64), |(s, c), b| {
                    (s + self.sums[b], c + u64::from(self.counts[b]))
                });
            bars.push(if count == 0 {
                0.0
            } else {
                (sum / count as f64).sqrt()
            });
        }
        let peak = bars.iter().copied().fold(0.0_f64, f64::max);
        bars.into_iter()
            .map(|b| {
                if peak > 0.0 {
                    ((b / peak) * 1000.0).round() as f32 / 1000.0
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono 16-bit WAV: `seconds` of a sine whose loudness rises linearly.
    fn rising_wav(rate: u32, seconds: f64) -> Vec<u8> {
        let frames = (f64::from(rate) * seconds) as u32;
        let mut out = Vec::new();
        let data_len = frames * 2;
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames {
            let t = f64::from(i) / f64::from(rate);
            let amp = t / seconds;
            let v = (amp * (t * 440.0 * std::f64::consts::TAU).sin() * 30000.0) as i16;
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn a_wav_gets_its_duration_and_a_rising_waveform() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("a.wav"))
            .unwrap_or_default();
        std::fs::write(&path, rising_wav(16_000, 2.0)).ok();
        let analysis = analyze(&path, "wav").ok();
        let duration = analysis
            .as_ref()
            .and_then(|a| a.duration)
            .unwrap_or_default();
        assert!((duration - 2.0).abs() < 0.01, "{duration}");
        let waveform = analysis.and_then(|a| a.waveform).unwrap_or_default();
        assert_eq!(waveform.len(), WAVEFORM_BARS);
        assert!(waveform.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(
            waveform[90] > waveform[10] * 3.0,
            "louder at the end: {waveform:?}"
        );
        assert!((waveform.iter().copied().fold(0.0, f32::max) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn garbage_is_not_audio() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("x.wav"))
            .unwrap_or_default();
        std::fs::write(&path, b"RIFF\x24\0\0\0WAVEgarbage garbage garbage").ok();
        assert!(analyze(&path, "wav").is_err());
    }
}
