//! `cargo afl fuzz … target/debug/afl <target>`: one target under AFL++.
fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = chatr_fuzz::target(&name) else {
        eprintln!(
            "unknown target {name:?}; one of: {:?}",
            chatr_fuzz::TARGETS.map(|t| t.0)
        );
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
