//! The bounded fuzz run of `make test`: every input kept in `corpus/<target>/`
//! (seeds, and everything fuzzing ever found), then random inputs built from
//! them for `FUZZ_BUDGET_MS` per target.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    inputs.sort();
    inputs
}

fn budget() -> Duration {
    Duration::from_millis(
        std::env::var("FUZZ_BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    )
}

/// Random inputs: a corpus entry mutated (bytes flipped, cut, spliced), or
/// fresh bytes.
fn mutate(
    u: &mut arbtest::arbitrary::Unstructured<'_>,
    seeds: &[Vec<u8>],
) -> arbtest::arbitrary::Result<Vec<u8>> {
    if seeds.is_empty() || u.ratio(1, 4)? {
        return u.arbitrary();
    }
    let mut input = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(1..=8)? {
        if input.is_empty() {
            break;
        }
        let at = u.choose_index(input.len())?;
        match u.int_in_range(0..=3)? {
            0 => input[at] = u.arbitrary()?,
            1 => input.truncate(at),
            2 => {
                let extra: Vec<u8> = u.arbitrary()?;
                input.splice(at..at, extra);
            }
            _ => {
                let other = u.choose(seeds)?;
                input.extend_from_slice(&other[..other.len().min(64)]);
            }
        }
    }
    Ok(input)
}

fn run(name: &str) {
    let target = chatr_fuzz::target(name).unwrap();
    let seeds = corpus(name);
    for input in &seeds {
        target(input);
    }
    arbtest::arbtest(|u| {
        let input = mutate(u, &seeds)?;
        target(&input);
        Ok(())
    })
    .budget(budget())
    .run();
}

#[test]
fn ws_frames() {
    run("ws_frames");
}

#[test]
fn engineio_payload() {
    run("engineio_payload");
}

#[test]
fn socketio_packet() {
    run("socketio_packet");
}

#[test]
fn event_payload() {
    run("event_payload");
}

#[test]
fn multipart() {
    run("multipart");
}

#[test]
fn image() {
    run("image");
}

#[test]
fn audio() {
    run("audio");
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (name, _) in chatr_fuzz::TARGETS {
        assert!(!corpus(name).is_empty(), "corpus/{name} is empty");
    }
}
