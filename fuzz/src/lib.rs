//! mille's fuzzer, on the stable toolchain: proptest draws a fixture file and a few edits to it
//! ([`mutate`]), a target feeds the result to mille ([`targets`]), and a failing case (a panic,
//! a loader worker's panic, a refused prepare that left files, a case that hangs) is shrunk to
//! its fewest edits and saved as JSON, which `tests/regressions.rs` replays from then on.

pub mod corpus;
pub mod mutate;
pub mod targets;

use corpus::Corpus;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
pub use targets::{Case, Layer, Outcome, Target};

/// A failing case and why it failed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Crash {
    /// The (shrunk) case.
    pub case: Case,
    /// The panic message or broken invariant.
    pub message: String,
}

/// Counts of one target's executions (shrinking included).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    /// Cases run.
    pub executions: u64,
    /// Inputs mille accepted (and read back without a failure).
    pub accepted: u64,
    /// Inputs mille refused with an error.
    pub refused: u64,
}

/// The case running now and when it started, for the hang watchdog.
static CURRENT: Mutex<Option<(Instant, Case)>> = Mutex::new(None);

/// Runs proptest rounds of `cases` cases on `target` until `deadline`; returns the first crash.
pub fn fuzz(
    target: Target,
    corpus: &Corpus,
    deadline: Instant,
    seed: u64,
    cases: u32,
    counts: &mut Counts,
) -> Result<(), Crash> {
    let files = corpus.files(target);
    if files.is_empty() {
        return Ok(());
    }
    let layer = prop_oneof![Just(Layer::Text), Just(Layer::Raw)];
    let strategy = (0..files.len(), layer, mutate::ops()).prop_map(move |(i, layer, ops)| Case {
        target,
        fixture: files[i].0.clone(),
        file: files[i].1.clone(),
        layer,
        ops,
    });
    let mut round = 0u64;
    while Instant::now() < deadline {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&round.to_le_bytes());
        key[16] = target as u8;
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 512, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
        let tally = Mutex::new(Counts::default());
        let result = runner.run(&strategy, |case| {
            *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), case.clone()));
            let r = targets::run(&case, corpus);
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.executions += 1;
            match r {
                Ok(Outcome::Accepted) => t.accepted += 1,
                Ok(Outcome::Refused) => t.refused += 1,
                Err(m) => return Err(TestCaseError::fail(m)),
            }
            Ok(())
        });
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
        counts.executions += t.executions;
        counts.accepted += t.accepted;
        counts.refused += t.refused;
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, case)) => return Err(Crash { case, message: why.to_string() }),
            Err(TestError::Abort(why)) => {
                return Err(Crash {
                    case: Case { target, fixture: String::new(), file: String::new(), layer: Layer::Raw, ops: vec![] },
                    message: format!("proptest aborted: {why}"),
                });
            }
        }
        round += 1;
    }
    Ok(())
}

/// Starts a thread that, when one case runs longer than `limit`, saves it as a hang into
/// `crashes` and ends the process with exit code 3 (a hang is a failure too).
pub fn start_watchdog(limit: Duration, crashes: &Path) {
    let crashes = crashes.to_path_buf();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some((start, case)) = current
                && start.elapsed() > limit
            {
                let crash = Crash { case, message: format!("hang: still running after {limit:?}") };
                let path = save_crash(&crashes, &crash).unwrap_or_default();
                eprintln!("fuzz: a case hangs; saved {}", path.display());
                std::process::exit(3);
            }
        }
    });
}

/// Writes `crash` as JSON into `dir`; its path.
pub fn save_crash(dir: &Path, crash: &Crash) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!(
        "{}-{}.json",
        crash.case.target.name(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
    );
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(crash).expect("serialisable"))?;
    Ok(path)
}
