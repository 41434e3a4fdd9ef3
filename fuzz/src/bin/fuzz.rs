//! `tools/fuzz SECONDS`: fuzzes mille's text ingest, whole-folder prepare and store opening for
//! that long, printing what ran; a failing case is shrunk, saved under `--crashes`, and the
//! exit code is 1 (3 for a case that hangs).

use clap::Parser;
use mille_fuzz::{Counts, Target, corpus::Corpus};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Fuzz mille's OGB text readers, prepare and Store::open with mutated fixtures.
///
/// Each round draws cases (a fixture file and up to five edits: bit flips, bytes, words,
/// special tokens, deletions, repeats, truncation) for one target in turn. A case that panics,
/// hangs, or breaks an invariant is shrunk and saved as JSON; copy it to fuzz/regressions/ once
/// fixed so that the test suite replays it.
#[derive(Parser)]
#[command(name = "fuzz", version)]
struct Args {
    /// Seconds to fuzz, shared by the targets.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Targets: csv, prepare, store (comma-separated; default all).
    #[arg(long, value_delimiter = ',', default_values_t = ["csv".to_string(), "prepare".to_string(), "store".to_string()])]
    target: Vec<String>,
    /// Seed of the first round (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Cases per round (a round per target in turn).
    #[arg(long, default_value_t = 32)]
    cases: u32,
    /// A case running longer than this many seconds is saved as a hang.
    #[arg(long, default_value_t = 120)]
    hang_seconds: u64,
    /// Folder for failing cases.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crashes: PathBuf,
    /// The repository's fixtures folder.
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Run the saved cases (JSON files written under --crashes) once each, instead of fuzzing,
    /// and say how each ends now.
    #[arg(long, value_name = "CASE.json", num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn main() {
    if let Err(e) = fuzz(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn fuzz(a: Args) -> anyhow::Result<()> {
    let targets: Vec<Target> = a
        .target
        .iter()
        .map(|t| {
            Target::ALL
                .into_iter()
                .find(|x| x.name() == t)
                .ok_or_else(|| anyhow::anyhow!("--target {t:?}: expected csv, prepare or store"))
        })
        .collect::<anyhow::Result<_>>()?;
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let corpus = Corpus::new(&a.fixtures)?;
    if !a.replay.is_empty() {
        return replay(&a.replay, &corpus);
    }
    // Panics are the findings: proptest reports their messages; the default hook's lines would
    // only bury the summary.
    std::panic::set_hook(Box::new(|_| {}));
    mille_fuzz::start_watchdog(Duration::from_secs(a.hang_seconds), &a.crashes);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(a.seconds);
    let mut counts = vec![Counts::default(); targets.len()];
    let mut round = 0u64;
    let mut next_report = t0 + Duration::from_secs(300);
    eprintln!("fuzz: {}, {} s, seed {seed}", a.target.join(", "), a.seconds);
    while Instant::now() < end {
        for (i, &t) in targets.iter().enumerate() {
            // One round per target at a time: every target gets its share however long the run.
            let slice = (Instant::now() + Duration::from_secs(2)).min(end);
            if let Err(crash) = mille_fuzz::fuzz(t, &corpus, slice, seed ^ round, a.cases, &mut counts[i]) {
                let path = mille_fuzz::save_crash(&a.crashes, &crash)?;
                eprintln!("fuzz: {} failed: {}\n  case: {}", t.name(), crash.message, path.display());
                std::process::exit(1);
            }
        }
        round += 1;
        if Instant::now() >= next_report {
            eprintln!("fuzz: {:.0} s, {} executions, no failure", t0.elapsed().as_secs_f64(), total(&counts));
            next_report += Duration::from_secs(300);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        let per: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .zip(&counts)
            .map(|(t, c)| (t.name().to_string(), serde_json::to_value(c).expect("serialisable")))
            .collect();
        println!(
            "{}",
            serde_json::json!({"seconds": secs, "seed": seed, "executions": total(&counts), "targets": per, "failures": 0})
        );
    } else {
        let per: Vec<String> = targets
            .iter()
            .zip(&counts)
            .map(|(t, c)| format!("{} {} ({} accepted, {} refused)", t.name(), c.executions, c.accepted, c.refused))
            .collect();
        println!("fuzz: {} executions in {secs:.0} s: {}; no failure", total(&counts), per.join(", "));
    }
    Ok(())
}

fn replay(files: &[PathBuf], corpus: &Corpus) -> anyhow::Result<()> {
    let mut failed = 0;
    for f in files {
        let crash: mille_fuzz::Crash = serde_json::from_slice(&std::fs::read(f)?)
            .map_err(|e| anyhow::anyhow!("{}: not a saved fuzz case: {e}", f.display()))?;
        let r = std::panic::catch_unwind(|| mille_fuzz::targets::run(&crash.case, corpus));
        let now = match r {
            Ok(Ok(o)) => format!("{o:?}").to_lowercase(),
            Ok(Err(m)) => {
                failed += 1;
                format!("FAILED: {m}")
            }
            Err(p) => {
                failed += 1;
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("PANICKED: {}", msg.unwrap_or_default())
            }
        };
        println!("{}: {now}", f.display());
    }
    anyhow::ensure!(failed == 0, "{failed} of {} cases still fail", files.len());
    Ok(())
}

fn total(c: &[Counts]) -> u64 {
    c.iter().map(|c| c.executions).sum()
}
