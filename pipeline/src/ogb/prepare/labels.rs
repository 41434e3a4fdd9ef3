//! Labels in either layout, checked as they stream into the store: a class per node (-1 for
//! none) against the class count, or 0/1 per task.

use crate::error::Result;
use crate::store::{LabelKind, Meta, StoreWriter, StreamArray};

/// Classes a dataset may have when neither the catalog nor `--num-classes` says: a label past
/// it is far more likely a broken file than a real class (and would size the model's head).
pub const MAX_CLASSES: u64 = 1 << 16;

/// Labels in either layout: a class per node (NaN = unlabelled) or 0/1 per task (NaN = missing).
pub(super) enum LabelSink {
    Class { out: StreamArray<i32>, buf: Vec<i32>, max: i64, classes: Option<u64> },
    Tasks { out: StreamArray<i8>, buf: Vec<i8>, tasks: usize },
}

impl LabelSink {
    /// `classes`: the dataset's class count when known in advance (catalog or option).
    pub(super) fn new(w: &mut StoreWriter, cols: usize, classes: Option<u64>) -> Result<Self> {
        Ok(if cols == 1 {
            LabelSink::Class { out: w.stream_array("labels", None)?, buf: Vec::new(), max: -1, classes }
        } else {
            LabelSink::Tasks { out: w.stream_array("labels", Some(cols as u64))?, buf: Vec::new(), tasks: cols }
        })
    }

    /// One label (`None`: unlabelled or missing); `shown` is how the input wrote it.
    #[inline]
    pub(super) fn push(&mut self, v: Option<u64>, shown: &dyn std::fmt::Display) -> std::result::Result<(), String> {
        match self {
            LabelSink::Class { buf, max, classes, .. } => match v {
                None => buf.push(-1),
                Some(c) => {
                    match *classes {
                        Some(k) if c >= k => {
                            return Err(format!(
                                "label {shown} is outside the dataset's {k} classes (expected 0..={})",
                                k.saturating_sub(1)
                            ));
                        }
                        None if c >= MAX_CLASSES => {
                            return Err(format!(
                                "label {shown} is beyond {MAX_CLASSES} classes; if the dataset has that many, \
                                 say so with --num-classes"
                            ));
                        }
                        _ => {}
                    }
                    buf.push(c as i32);
                    *max = (*max).max(c as i64);
                }
            },
            LabelSink::Tasks { buf, .. } => buf.push(match v {
                None => -1,
                Some(b @ (0 | 1)) => b as i8,
                Some(_) => return Err(format!("expected a binary task label (0, 1 or nan), found {shown}")),
            }),
        }
        Ok(())
    }

    /// A label stored as a float (the npz layout): NaN, or an integer value.
    pub(super) fn push_float(&mut self, x: f64) -> std::result::Result<(), String> {
        if x.is_nan() {
            return self.push(None, &x);
        }
        if !(x >= 0.0 && x.fract() == 0.0 && x < 1e18) {
            return Err(format!("expected a label (a non-negative integer, or nan for none), found {x}"));
        }
        self.push(Some(x as u64), &x)
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        match self {
            LabelSink::Class { out, buf, .. } => {
                out.push(buf)?;
                buf.clear();
            }
            LabelSink::Tasks { out, buf, .. } => {
                out.push(buf)?;
                buf.clear();
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self, meta: &mut Meta) -> Result<()> {
        self.flush()?;
        match self {
            LabelSink::Class { out, max, classes, .. } => {
                out.finish()?;
                meta.label_kind = Some(LabelKind::MultiClass);
                meta.num_classes = Some(classes.unwrap_or((max + 1) as u64));
                meta.num_tasks = Some(1);
            }
            LabelSink::Tasks { out, tasks, .. } => {
                out.finish()?;
                meta.label_kind = Some(LabelKind::MultiLabel);
                meta.num_classes = Some(2);
                meta.num_tasks = Some(tasks as u64);
            }
        }
        Ok(())
    }
}
