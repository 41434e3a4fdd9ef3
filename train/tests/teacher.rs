//! Self-knowledge distillation: a student learns from a finished teacher run's logits, and a
//! teacher that does not fit is refused before the student's folder is made. (The tests take
//! libtorch's process-wide random generator in turns, through `RNG`.)

mod common;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use cora_setup::cora_config;
use mille_train::run::{RunConfig, Summary, TeacherConfig, Trainer};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tch::Tensor;

static RNG: Mutex<()> = Mutex::new(());

fn small(store: &Path) -> RunConfig {
    let mut cfg = cora_config(store);
    (cfg.layers, cfg.epochs) = (2, 30);
    cfg
}

fn train(cfg: RunConfig, out: &Path) -> Summary {
    Trainer::new(cfg, out, false).unwrap().fit().unwrap()
}

fn refused(cfg: RunConfig, dir: &Path) -> String {
    let out = dir.join("student");
    let e = match Trainer::new(cfg, &out, false) {
        Ok(_) => panic!("the student started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(!out.exists(), "a refused student left {}", out.display());
    e
}

fn argmax(file: &Path) -> Vec<i64> {
    Vec::<i64>::try_from(Tensor::read_npy(file).unwrap().argmax(1, false)).unwrap()
}

#[test]
fn a_student_follows_its_teacher_and_alpha_zero_is_the_plain_run() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("teacher");
    train(small(&store), &teacher);

    // All KD (alpha 1, T 1) from another seed: the student's predictions are the teacher's,
    // nearly everywhere, though it never saw a label.
    let mut cfg = small(&store);
    cfg.seed = 7;
    cfg.epochs = 60;
    cfg.teacher = Some(TeacherConfig { alpha: 1.0, temperature: 1.0, ..TeacherConfig::new(&teacher) });
    let student = dir.path().join("student");
    train(cfg, &student);
    let (t, s) = (argmax(&teacher.join("predictions.npy")), argmax(&student.join("predictions.npy")));
    let agree = |s: &[i64]| t.iter().zip(s).filter(|(a, b)| a == b).count() as f64 / t.len() as f64;
    // A run of that seed trained on the labels alone agrees far less.
    let mut cfg = small(&store);
    (cfg.seed, cfg.epochs) = (7, 60);
    let alone = dir.path().join("alone");
    train(cfg, &alone);
    let (kd, labels) = (agree(&s), agree(&argmax(&alone.join("predictions.npy"))));
    eprintln!("agreement with the teacher: student {kd:.3}, a label-trained run of its seed {labels:.3}");
    assert!(
        kd > 0.92 && kd > labels + 0.04,
        "the student agrees with its teacher on {kd:.3} of the nodes, a label-trained run on {labels:.3}"
    );
    // Its config records the teacher's absolute path and checksum.
    let saved = RunConfig::load(&student.join("config.toml")).unwrap().teacher.unwrap();
    assert_eq!(saved.run, std::fs::canonicalize(&teacher).unwrap());
    let sum = mille_pipeline::store::checksum_file(&teacher.join("predictions.npy")).unwrap();
    assert_eq!(saved.checksum.as_deref(), Some(sum.as_str()));

    // alpha 0: the KD term weighs nothing, and the run is the teacher-less one bit for bit.
    let mut cfg = small(&store);
    cfg.teacher = Some(TeacherConfig { alpha: 0.0, ..TeacherConfig::new(&teacher) });
    let zero = dir.path().join("alpha0");
    let a = train(cfg, &zero);
    let b = train(small(&store), &dir.path().join("plain"));
    assert_eq!((a.best_epoch, a.valid, a.test), (b.best_epoch, b.valid, b.test));
    let read =
        |d: &Path| Vec::<f32>::try_from(Tensor::read_npy(d.join("predictions.npy")).unwrap().reshape([-1])).unwrap();
    assert_eq!(read(&zero), read(&dir.path().join("plain")));
}

#[test]
fn a_teacher_that_does_not_fit_is_refused_by_name_before_the_student_starts() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let dir = tempfile::tempdir().unwrap();
    let student = |teacher: PathBuf| {
        let mut cfg = small(&store);
        cfg.teacher = Some(TeacherConfig::new(teacher));
        cfg
    };

    let e = refused(student(dir.path().join("nothing")), dir.path());
    assert!(e.contains("not a run folder (no config.toml)"), "{e}");

    // A teacher that has not finished: its config but no predictions.
    let unfinished = dir.path().join("unfinished");
    std::fs::create_dir(&unfinished).unwrap();
    std::fs::write(unfinished.join("config.toml"), small(&store).to_toml()).unwrap();
    let e = refused(student(unfinished.clone()), dir.path());
    assert!(e.contains("predictions.npy is missing: the teacher has not finished"), "{e}");

    // Logits of another shape, or not an .npy at all.
    let fake = |name: &str, t: Option<Tensor>| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("config.toml"), small(&store).to_toml()).unwrap();
        match t {
            Some(t) => t.write_npy(d.join("predictions.npy")).unwrap(),
            None => std::fs::write(d.join("predictions.npy"), b"\x93NUMPY garbage").unwrap(),
        }
        d
    };
    let e = refused(student(fake("narrow", Some(Tensor::zeros([2708, 3], tch::kind::FLOAT_CPU)))), dir.path());
    assert!(e.contains("this student needs float32 logits [2708, 7]"), "{e}");
    let e = refused(student(fake("garbage", None)), dir.path());
    assert!(e.contains("--teacher: reading") && e.contains("predictions.npy"), "{e}");
    let nan = Tensor::zeros([2708, 7], tch::kind::FLOAT_CPU).fill_(f64::NAN);
    let e = refused(student(fake("nan", Some(nan))), dir.path());
    assert!(e.contains("a NaN or infinite logit"), "{e}");

    // A teacher of another store, and one of another split.
    let (citeseer, _tmp2) = common::store(&common::dataset("citeseer"), false);
    let other = dir.path().join("other-store");
    let mut cfg = small(&citeseer);
    cfg.epochs = 1;
    train(cfg, &other);
    let e = refused(student(other), dir.path());
    assert!(e.contains("the teacher trained on another store"), "{e}");
    let split = fake("split", Some(Tensor::zeros([2708, 7], tch::kind::FLOAT_CPU)));
    let mut theirs = small(&store);
    theirs.split = Some("another".into());
    std::fs::write(split.join("config.toml"), theirs.to_toml()).unwrap();
    let e = refused(student(split), dir.path());
    assert!(e.contains("it trained on split \"another\""), "{e}");

    // Settings out of range.
    let mut cfg = student(dir.path().join("nothing"));
    cfg.teacher.as_mut().unwrap().alpha = 1.5;
    assert!(refused(cfg, dir.path()).contains("--kd-alpha must be in [0, 1], got 1.5"));
    let mut cfg = student(dir.path().join("nothing"));
    cfg.teacher.as_mut().unwrap().temperature = 0.0;
    assert!(refused(cfg, dir.path()).contains("--kd-temperature must be a finite number > 0"));

    // A resumed student whose teacher changed since it started.
    let good = fake("good", Some(Tensor::zeros([2708, 7], tch::kind::FLOAT_CPU)));
    let out = dir.path().join("resumed");
    let mut cfg = student(good.clone());
    cfg.epochs = 2;
    Trainer::new(cfg.clone(), &out, false).unwrap().fit().unwrap();
    Tensor::ones([2708, 7], tch::kind::FLOAT_CPU).write_npy(good.join("predictions.npy")).unwrap();
    cfg.epochs = 3;
    let e = format!("{:#}", Trainer::new(cfg, &out, true).err().expect("refused"));
    assert!(e.contains("changed since this student started"), "{e}");
}
