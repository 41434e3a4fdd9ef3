//! PNG line charts for run folders and benchmarks (plotters, with an embedded DejaVu font so
//! no system font is needed).

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// One line: a name for the legend and its points.
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// Distinct, readable line colours (cycled).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Axis numbers without trailing zeros: 112, 0.25, 1.5e6.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else if v == v.round() {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// Draws `series` as lines with markers into an 800 x 500 PNG at `path`; `y_from_zero` starts
/// the y axis at 0 (for memory and the like).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_from_zero: bool,
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (x0, x1) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (mut y0, y1) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    if y_from_zero {
        y0 = 0.0;
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// The run folder's plots from its `metrics.jsonl`: `loss.png` (training loss per epoch) and
/// `accuracy.png` (train / valid / test score per evaluated epoch). Returns the files written.
pub fn run_plots(run: &Path, metric: &str) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl"))?;
    let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let pick = |key: &str| -> Vec<(f64, f64)> {
        lines.iter().filter_map(|v| Some((v["epoch"].as_f64()?, v[key].as_f64()?))).collect()
    };
    let loss = run.join("loss.png");
    line_chart(
        &loss,
        "Training loss",
        "epoch",
        "loss",
        &[Series { name: "loss".into(), points: pick("loss") }],
        false,
    )?;
    let acc = run.join("accuracy.png");
    let series: Vec<Series> =
        ["train", "valid", "test"].iter().map(|k| Series { name: k.to_string(), points: pick(k) }).collect();
    line_chart(&acc, &format!("{metric} per epoch (single view)"), "epoch", metric, &series, false)?;
    Ok(vec![loss, acc])
}
