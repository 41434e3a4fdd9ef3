//! Every failing case the fuzzer has found, replayed: each must now be accepted or refused
//! cleanly (no panic, no loader-worker panic, nothing half-written). New findings are copied
//! here from `target/fuzz-crashes/` once fixed. Also a short run of every target from a fixed
//! seed, so that the harness itself stays working.

use mille_fuzz::corpus::Corpus;
use mille_fuzz::{Counts, Crash, Target, targets};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn every_saved_finding_is_now_handled() {
    let corpus = Corpus::new(&repo().join("fixtures")).unwrap();
    let dir = repo().join("fuzz/regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(!files.is_empty(), "{} holds the findings", dir.display());
    for f in files {
        let crash: Crash = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let r = targets::run(&crash.case, &corpus);
        assert!(r.is_ok(), "{}: {r:?} (was: {})", f.display(), crash.message);
    }
}

#[test]
fn a_short_run_of_every_target_finds_nothing_and_counts_both_outcomes() {
    let corpus = Corpus::new(&repo().join("fixtures")).unwrap();
    for t in Target::ALL {
        let mut c = Counts::default();
        let r = mille_fuzz::fuzz(t, &corpus, Instant::now() + Duration::from_millis(500), 7, 16, &mut c);
        assert!(r.is_ok(), "{}: {r:?}", t.name());
        assert!(c.executions >= 16 && c.accepted > 0 && c.refused > 0, "{}: {c:?}", t.name());
    }
}
