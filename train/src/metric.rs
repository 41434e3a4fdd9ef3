//! OGB's metrics: accuracy (multi-class) and ROC-AUC averaged over tasks (multi-label).

/// Share of `rows` whose arg-max over `logits[row]` (a `[n, c]` row-major array) equals `y`.
pub fn accuracy(logits: &[f32], classes: usize, y: &[i32], rows: &[usize]) -> f64 {
    if rows.is_empty() {
        return f64::NAN;
    }
    hits(logits, classes, y, rows) as f64 / rows.len() as f64
}

/// How many of `rows` have their arg-max over `logits[row]` equal to `y` (accuracy's numerator;
/// shards add theirs up).
pub fn hits(logits: &[f32], classes: usize, y: &[i32], rows: &[usize]) -> usize {
    rows.iter()
        .filter(|&&r| {
            let l = &logits[r * classes..(r + 1) * classes];
            let best = (0..classes).fold(0, |b, k| if l[k] > l[b] { k } else { b });
            best as i32 == y[r]
        })
        .count()
}

/// ROC-AUC of scores against binary labels (ties get the average rank, as scikit-learn's).
/// `None` unless both classes are present.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the positives' (1-based, tie-averaged) ranks: the Mann-Whitney U statistic.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64))
}

/// OGB's multi-label ROC-AUC: the mean over tasks with both classes present among `rows`
/// (missing labels, `-1`, skipped). `logits` and `y` are `[n, tasks]` row-major.
pub fn mean_roc_auc(logits: &[f32], y: &[i8], tasks: usize, rows: &[usize]) -> f64 {
    let mut sum = 0.0;
    let mut counted = 0;
    for t in 0..tasks {
        let (mut s, mut l) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
        for &r in rows {
            let v = y[r * tasks + t];
            if v >= 0 {
                s.push(logits[r * tasks + t]);
                l.push(v == 1);
            }
        }
        if let Some(a) = roc_auc(&s, &l) {
            sum += a;
            counted += 1;
        }
    }
    if counted == 0 { f64::NAN } else { sum / counted as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_by_hand() {
        // Rows: argmax 1, 0, 2, 2; labels 1, 1, 2, 0.
        let logits = [0.1, 0.9, 0.0, 0.5, 0.2, 0.1, 0.0, 0.1, 0.3, 0.2, 0.2, 0.7];
        let y = [1, 1, 2, 0];
        assert_eq!(accuracy(&logits, 3, &y, &[0, 1, 2, 3]), 0.5);
        assert_eq!(accuracy(&logits, 3, &y, &[0, 2]), 1.0);
        assert_eq!(accuracy(&logits, 3, &y, &[1]), 0.0);
    }

    #[test]
    fn roc_auc_by_hand() {
        // Positives 0.8, 0.4; negatives 0.6, 0.2, 0.4. Pairs (pos > neg = 1, tie = 0.5):
        // 0.8: 3 wins; 0.4: beats 0.2, ties 0.4, loses 0.6 -> 1.5. AUC = 4.5 / 6 = 0.75.
        let s = [0.8, 0.6, 0.4, 0.2, 0.4];
        let l = [true, false, true, false, false];
        assert!((roc_auc(&s, &l).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        // Two tasks: the first as above, the second all-negative among these rows (skipped); a
        // missing label (-1) drops a row from a task.
        let logits: Vec<f32> = s.iter().flat_map(|&v| [v, 0.0]).collect();
        let y: Vec<i8> = l.iter().flat_map(|&v| [v as i8, 0]).collect();
        assert!((mean_roc_auc(&logits, &y, 2, &[0, 1, 2, 3, 4]) - 0.75).abs() < 1e-12);
        let mut y2 = y.clone();
        y2[2] = -1; // row 1 (negative 0.6) of task 0 missing: pairs 0.8 > {0.2, 0.4}, 0.4: 0.5 + 1 -> 3.5 / 4
        assert!((mean_roc_auc(&logits, &y2, 2, &[0, 1, 2, 3, 4]) - 0.875).abs() < 1e-12);
    }
}
