//! The `--plot` SVG: the latency percentile spectrum (latency against 1/(1-percentile), log
//! scale) above the rate over time.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// Draws both charts into `path`.
pub fn write(path: &Path, title: &str, hist: &Histogram<u64>, rates: &[u64]) -> Result<(), String> {
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(380);

    let points: Vec<(f64, f64)> = hist
        .iter_quantiles(5)
        .filter(|v| v.quantile_iterated_to() < 1.0)
        .map(|v| {
            (
                (1.0 / (1.0 - v.quantile_iterated_to())).log10(),
                v.value_iterated_to() as f64,
            )
        })
        .collect();
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_y = (hist.max() as f64).max(1.0);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{title}: latency by percentile"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y * 1.05)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale: 1 = 90%, 2 = 99%, 3 = 99.9%, 4 = 99.99%)")
        .y_desc("latency (us)")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(points, &BLUE))
        .map_err(|e| e.to_string())?;

    let max_rate = rates.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("rate over time", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..(rates.len().max(1) as f64), 0f64..max_rate * 1.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("second")
        .y_desc("messages/s")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            rates
                .iter()
                .enumerate()
                .map(|(i, r)| (i as f64 + 1.0, *r as f64)),
            &RED,
        ))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
