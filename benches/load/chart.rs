//! The sweep's chart: requests/s, p99 latency and peak RSS against the
//! number of connections, one line per server, as an SVG file.

use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// One server's line: (connections, value) points per panel.
pub struct Series {
    pub name: String,
    /// (connections, requests/s, p99 in ms, peak RSS in MB)
    pub points: Vec<(usize, f64, f64, f64)>,
}

const COLORS: [RGBColor; 7] = [
    RGBColor(0xd6, 0x27, 0x28), // skiff: red
    RGBColor(0xff, 0x7f, 0x0e), // skiff-threaded: orange
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Writes the chart to `path`. `title` goes above the three panels.
pub fn draw(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    draw_inner(path, title, series).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_inner(
    path: &Path,
    title: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, 3));
    let max_conns = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(10)
        .max(10) as f64;
    type Pick = fn(&(usize, f64, f64, f64)) -> f64;
    let kinds: [(&str, &str, Pick, bool); 3] = [
        ("requests/s (380 B file)", "requests/s", |p| p.1, false),
        ("p99 latency", "ms", |p| p.2, true),
        ("server peak RSS", "MB", |p| p.3, true),
    ];
    for (panel, (caption, unit, pick, log)) in panels.iter().zip(kinds) {
        let values: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter().map(pick))
            .filter(|v| *v > 0.0)
            .collect();
        let hi = values.iter().cloned().fold(0.0, f64::max).max(1e-3);
        let lo = values.iter().cloned().fold(f64::MAX, f64::min).min(hi);
        let mut b = ChartBuilder::on(panel);
        b.caption(caption, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70);
        let x = (1f64..max_conns * 1.3).log_scale();
        let legend = caption == "p99 latency";
        // A log axis over less than a decade has no labelled ticks: such a
        // panel is drawn linear instead.
        let log = log && hi / lo >= 10.0;
        let unit = if log {
            format!("{unit} (log scale)")
        } else {
            unit.to_string()
        };
        let unit = unit.as_str();
        if log {
            let chart = b.build_cartesian_2d(x, (lo / 1.5..hi * 1.5).log_scale())?;
            fill(chart, unit, series, pick, true, legend)?;
        } else {
            let chart = b.build_cartesian_2d(x, 0f64..hi * 1.1)?;
            fill(chart, unit, series, pick, false, legend)?;
        }
    }
    root.present()?;
    Ok(())
}

/// Draws one panel's axes and a line per series; on a log axis, points
/// without a value (zero) are left out.
fn fill<'a, X, Y>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    unit: &str,
    series: &[Series],
    pick: fn(&(usize, f64, f64, f64)) -> f64,
    log: bool,
    with_legend: bool,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("connections (log scale)")
        .y_desc(unit)
        .max_light_lines(0)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| !log || pick(p) > 0.0)
            .map(|p| (p.0 as f64, pick(p)))
            .collect();
        line(&mut chart, &s.name, pts, COLORS[i % COLORS.len()])?;
    }
    if with_legend {
        legend(&mut chart)?;
    }
    Ok(())
}

fn line<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    name: &str,
    pts: Vec<(f64, f64)>,
    color: RGBColor,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let width = if name == "skiff" { 3 } else { 2 };
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    chart
        .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// 1200 → "1k", 3.5 → "3.5", 0.05 → "0.05".
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
