//! Memory in flight: with a slow consumer, at most `prefetch` batches wait, plus one being built
//! per worker and the one being consumed. (Its own test binary: the count is process-wide.)

use mille_loader::*;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use std::path::Path;
use std::sync::Arc;

#[test]
fn batches_in_flight_stay_within_the_prefetch_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let src = mille_pipeline::datasets::require(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."), "cora");
    let opts = PrepareOptions::new("cora", false);
    let s = Arc::new(
        mille_pipeline::Store::open(prepare_dir(&src, &tmp.path().join("cora"), &opts).unwrap().path).unwrap(),
    );
    for (workers, prefetch) in [(1, 1), (2, 4), (4, 4), (3, 7)] {
        let cfg = LoaderConfig { plan: PlanSpec::RandomParts { parts: 40 }, workers, prefetch, ..Default::default() };
        let l = Loader::new(s.clone(), cfg).unwrap();
        let bound = prefetch.div_ceil(workers) * workers + workers + 1;
        let mut most = 0;
        for b in l.epoch(0) {
            std::thread::sleep(std::time::Duration::from_millis(3)); // a slow consumer
            most = most.max(Batch::live());
            drop(b);
        }
        assert!(most <= bound, "workers {workers}, prefetch {prefetch}: {most} batches alive > {bound}");
        assert!(most >= 2, "prefetching happened");
        assert_eq!(Batch::live(), 0);
    }
}
