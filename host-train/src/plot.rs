//! The loss-curve picture of a run (`loss_curve.png`), drawn during training and by
//! `host-train plot`: one panel per loss (total, content, style, TV, and stability when
//! the run has it; weighted, as the optimiser sees them). Each panel gets its own scale,
//! so a small decline is as visible as a thousandfold fall: linear when the panel's range
//! is narrow (a continuing run), logarithmic when it spans more than `LOG_RATIO` (a run
//! from scratch). Per-step values are drawn faintly, a moving median over them boldly,
//! since batch-4 losses are noisy. Labels use `stylecast::text`, so no system fonts
//! are needed on a headless training box.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use image::{Rgb, RgbImage};

use crate::log::{self, LossRecord};
use crate::options::{CURVE_FILE, LOG_FILE};

const PANEL_W: u32 = 480;
const PANEL_H: u32 = 300;
const LEFT: u32 = 72;
const RIGHT: u32 = 14;
const TOP: u32 = 30;
const BOTTOM: u32 = 28;
/// Above this max/min ratio a panel switches to a log scale.
const LOG_RATIO: f64 = 20.0;

/// A label at (x, y): the shared bitmap font at scale 1.
fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, color: Rgb<u8>) {
    stylecast::text::draw_text(img, x as usize, y as usize, text, 1, color.0);
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// One curve: its label, colour and the value it plots.
type Series = (&'static str, Rgb<u8>, fn(&LossRecord) -> f64);

const SERIES: [Series; 4] = [
    ("total", Rgb([0, 0, 0]), |r| r.total),
    ("content", Rgb([31, 119, 180]), |r| r.content),
    ("style", Rgb([214, 39, 40]), |r| r.style),
    ("tv", Rgb([44, 160, 44]), |r| r.tv),
];

/// The fifth panel, for runs with `--stability-weight`.
const STABILITY: Series = ("stability", Rgb([148, 103, 189]), |r| r.stability);

/// Where panel `k` (row-major in a grid `cols` wide) starts in the picture.
fn panel_origin(k: usize, cols: u32) -> (u32, u32) {
    ((k as u32 % cols) * PANEL_W, (k as u32 / cols) * PANEL_H)
}

/// The plotting area of a panel, relative to its origin: x0, y0, x1, y1.
const PLOT: (u32, u32, u32, u32) = (LEFT, TOP, PANEL_W - RIGHT, PANEL_H - BOTTOM);

/// A centred moving median over `w` points, evaluated at about `samples` evenly spaced
/// points: (index, median). A median, not a mean, so one diverging step stays a dot.
fn moving_median(v: &[f64], w: usize, samples: usize) -> Vec<(usize, f64)> {
    let n = v.len();
    let stride = n.div_ceil(samples.max(1)).max(1);
    let h = w / 2;
    let mut out: Vec<(usize, f64)> = (0..n)
        .step_by(stride)
        .chain(std::iter::once(n - 1))
        .map(|i| {
            let mut win = v[i.saturating_sub(h)..(i + h + 1).min(n)].to_vec();
            win.sort_by(f64::total_cmp);
            (i, win[win.len() / 2])
        })
        .collect();
    out.dedup_by_key(|p| p.0);
    out
}

/// Compact number for axis labels: 4 significant digits, exponent form outside 0.01..1e4.
fn fmt(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (0.01..1e4).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 5) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').into()
        } else {
            s
        }
    } else {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        format!("{}e{e}", fmt(m))
    }
}

/// A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `n` ticks.
fn tick_step(range: f64, n: f64) -> f64 {
    let raw = range / n;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Colours of the per-style lines, in style order (repeating after ten styles).
const STYLE_COLORS: [Rgb<u8>; 10] = [
    Rgb([31, 119, 180]),
    Rgb([255, 127, 14]),
    Rgb([44, 160, 44]),
    Rgb([214, 39, 40]),
    Rgb([148, 103, 189]),
    Rgb([140, 86, 75]),
    Rgb([227, 119, 194]),
    Rgb([127, 127, 127]),
    Rgb([188, 189, 34]),
    Rgb([23, 190, 207]),
];

/// One line of a panel: its label, colour and (step, value) points.
struct Curve {
    label: String,
    color: Rgb<u8>,
    pts: Vec<(f64, f64)>,
}

impl Curve {
    fn of(s: &Series, history: &[LossRecord]) -> Self {
        let (name, color, f) = *s;
        Self {
            label: name.into(),
            color,
            pts: history.iter().map(|r| (r.step as f64, f(r))).collect(),
        }
    }
}

/// A multi-style run's style loss, one curve per style (its steps only: those whose batch
/// drew it), in style order; empty for a one-style log.
fn style_curves(history: &[LossRecord]) -> Vec<Curve> {
    let mut by_index: std::collections::BTreeMap<usize, Curve> = Default::default();
    for r in history {
        for s in &r.styles {
            by_index
                .entry(s.index)
                .or_insert_with(|| Curve {
                    label: s.name.clone(),
                    color: STYLE_COLORS[s.index % STYLE_COLORS.len()],
                    pts: Vec::new(),
                })
                .pts
                .push((r.step as f64, s.style));
        }
    }
    by_index.into_values().collect()
}

/// Renders the panels: 2x2, or 3x2 with the stability panel when any step has that term
/// and with the per-style panel (one line per style) when the log has per-style losses.
/// Empty or non-finite series leave their panel blank.
pub fn loss_curve(history: &[LossRecord]) -> RgbImage {
    let mut panels: Vec<(&str, Rgb<u8>, Vec<Curve>)> = SERIES
        .iter()
        .map(|s| (s.0, s.1, vec![Curve::of(s, history)]))
        .collect();
    if history.iter().any(|r| r.stability != 0.0) {
        panels.push((
            STABILITY.0,
            STABILITY.1,
            vec![Curve::of(&STABILITY, history)],
        ));
    }
    let per_style = style_curves(history);
    if !per_style.is_empty() {
        panels.push(("style per style", Rgb([0, 0, 0]), per_style));
    }
    let cols = if panels.len() > 4 { 3 } else { 2 };
    let mut img = RgbImage::from_pixel(cols * PANEL_W, 2 * PANEL_H, Rgb([255, 255, 255]));
    for (k, (name, color, curves)) in panels.iter().enumerate() {
        draw_panel(&mut img, panel_origin(k, cols as u32), name, *color, curves);
    }
    img
}

/// A curve's finite points and its moving median (a thirtieth of its points wide: short
/// runs stay raw, long ones readable).
fn smoothed(c: &Curve) -> (Vec<(f64, f64)>, Vec<(usize, f64)>) {
    let pts: Vec<(f64, f64)> = c
        .pts
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    if pts.is_empty() {
        return (pts, Vec::new());
    }
    let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let median = moving_median(&vals, (vals.len() / 30).max(1), 400);
    (pts, median)
}

fn draw_panel(
    img: &mut RgbImage,
    (ox, oy): (u32, u32),
    name: &str,
    color: Rgb<u8>,
    curves: &[Curve],
) {
    let axis = Rgb([0, 0, 0]);
    draw_text(img, ox + LEFT, oy + 10, name, color);
    let lines: Vec<(&Curve, Vec<(f64, f64)>, Vec<(usize, f64)>)> = curves
        .iter()
        .map(|c| {
            let (p, m) = smoothed(c);
            (c, p, m)
        })
        .filter(|(_, p, _)| !p.is_empty())
        .collect();
    if lines.is_empty() {
        return;
    }
    let mut sorted: Vec<f64> = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).collect();
    sorted.sort_by(f64::total_cmp);
    // The range covers the medians and the middle 96% of the raw values, so one early
    // spike does not flatten the rest of the run.
    let medians = || lines.iter().flat_map(|l| l.2.iter().map(|a| a.1));
    let amin = medians().fold(f64::INFINITY, f64::min);
    let amax = medians().fold(f64::NEG_INFINITY, f64::max);
    let mut lo = amin.min(percentile(&sorted, 0.02));
    let mut hi = amax.max(percentile(&sorted, 0.98));
    let log = lo > 0.0 && hi / lo > LOG_RATIO;
    let (tlo, thi) = if log {
        (lo.log10(), hi.log10())
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-30);
        lo -= pad;
        hi += pad;
        (lo, hi)
    };
    let t = |v: f64| if log { v.log10() } else { v };
    let (x0, y0, x1, y1) = (
        (ox + PLOT.0) as f64,
        (oy + PLOT.1) as f64,
        (ox + PLOT.2) as f64,
        (oy + PLOT.3) as f64,
    );
    let first = lines.iter().map(|l| l.1[0].0).fold(f64::INFINITY, f64::min);
    let last = lines
        .iter()
        .map(|l| l.1[l.1.len() - 1].0)
        .fold(f64::NEG_INFINITY, f64::max);
    let (s0, s1) = (first, last.max(first + 1.0));
    let px = |s: f64| x0 + (s - s0) / (s1 - s0) * (x1 - x0);
    let py = |v: f64| y1 - (t(v) - tlo) / (thi - tlo).max(1e-300) * (y1 - y0);

    // Grid and labels.
    let grey = Rgb([225, 225, 225]);
    let label = Rgb([90, 90, 90]);
    let mut ticks = Vec::new();
    if log {
        let step = tick_step(thi - tlo, 4.0).max(1.0).round();
        let mut d = (tlo / step).ceil() * step;
        while d <= thi + 1e-9 {
            ticks.push(10f64.powf(d));
            d += step;
        }
        if ticks.len() < 2 {
            ticks = vec![lo, hi];
        }
    } else {
        let step = tick_step(hi - lo, 4.0);
        let mut v = (lo / step).ceil() * step;
        while v <= hi + step * 1e-9 {
            // Snap float residue (3e-17 for 0) to the tick it stands for.
            ticks.push(if v.abs() < step * 1e-6 { 0.0 } else { v });
            v += step;
        }
    }
    for v in ticks {
        let y = py(v);
        line(img, (x0, y), (x1, y), grey);
        let text = fmt(v);
        let w = 8 * text.len() as u32;
        draw_text(
            img,
            (ox + LEFT).saturating_sub(w + 6),
            (y as u32).saturating_sub(4),
            &text,
            label,
        );
    }
    line(img, (x0, y0), (x0, y1), axis);
    line(img, (x0, y1), (x1, y1), axis);
    draw_text(
        img,
        ox + LEFT,
        oy + PLOT.3 + 8,
        &format!("step {s0}"),
        label,
    );
    let end = format!("{s1}");
    draw_text(
        img,
        ox + PLOT.2 - 8 * end.len() as u32,
        oy + PLOT.3 + 8,
        &end,
        label,
    );

    for (c, pts, _) in &lines {
        // Faint raw values (clipped to the panel), then the median on top.
        let faint = Rgb(c.color.0.map(|v| ((v as u16 + 2 * 255) / 3) as u8));
        for &(s, v) in pts {
            if v >= lo && v <= hi && (!log || v > 0.0) {
                let (x, y) = (px(s), py(v));
                img.put_pixel(x as u32, y as u32, faint);
            }
        }
    }
    for (c, pts, median) in &lines {
        let curve: Vec<(f64, f64)> = median
            .iter()
            .filter(|(_, a)| !log || *a > 0.0)
            .map(|&(i, a)| (px(pts[i].0), py(a.clamp(lo, hi))))
            .collect();
        for w in curve.windows(2) {
            line(img, w[0], w[1], c.color);
            // Twice as thick: the median is what a reader follows.
            line(img, (w[0].0, w[0].1 + 1.0), (w[1].0, w[1].1 + 1.0), c.color);
        }
    }

    let scale = if log { "log" } else { "linear" };
    let header_x = ox + LEFT + 8 * (name.len() as u32 + 2);
    if let [(_, _, median)] = &lines[..] {
        // One line: where its median started and where it is now.
        let (a0, a1) = (median[0].1, median[median.len() - 1].1);
        let change = if a0 != 0.0 {
            format!(" ({:+.0}%)", (a1 / a0 - 1.0) * 100.0)
        } else {
            String::new()
        };
        draw_text(
            img,
            header_x,
            oy + 10,
            &format!("{} -> {}{change}  [{scale}]", fmt(a0), fmt(a1)),
            axis,
        );
    } else {
        // Several: a legend, each style in its colour with its median's change.
        draw_text(img, header_x, oy + 10, &format!("[{scale}]"), axis);
        // As many as fit, one a text line.
        let fit = ((PLOT.3 - PLOT.1 - 8) / 10) as usize;
        for (k, (c, _, median)) in lines.iter().enumerate().take(fit) {
            let (a0, a1) = (median[0].1, median[median.len() - 1].1);
            let change = if a0 != 0.0 {
                format!(" {:+.0}%", (a1 / a0 - 1.0) * 100.0)
            } else {
                String::new()
            };
            let text: String = format!("{}{change}", c.label).chars().take(28).collect();
            let x = ox + PLOT.2 - 8 * text.chars().count() as u32 - 4;
            draw_text(img, x, oy + PLOT.1 + 4 + 10 * k as u32, &text, c.color);
        }
    }
}

/// Line colours of `lines_chart`, cycled.
const PALETTE: [Rgb<u8>; 12] = [
    Rgb([0, 0, 0]),
    Rgb([31, 119, 180]),
    Rgb([214, 39, 40]),
    Rgb([44, 160, 44]),
    Rgb([255, 127, 14]),
    Rgb([148, 103, 189]),
    Rgb([140, 86, 75]),
    Rgb([23, 190, 207]),
    Rgb([227, 119, 194]),
    Rgb([188, 189, 34]),
    Rgb([127, 127, 127]),
    Rgb([0, 0, 128]),
];

/// One linear panel, a line per series over its index (from 1), a legend below; a `None`
/// breaks its line. `eval --video --plot` draws the per-frame warping error with it.
pub fn lines_chart(title: &str, x_label: &str, series: &[(String, Vec<Option<f64>>)]) -> RgbImage {
    let (pw, ph) = (2 * PANEL_W, PANEL_H + 40);
    let legend = 14 * series.len() as u32 + 8;
    let mut img = RgbImage::from_pixel(pw, ph + legend, Rgb([255, 255, 255]));
    let axis = Rgb([0, 0, 0]);
    let label = Rgb([90, 90, 90]);
    draw_text(&mut img, LEFT, 10, title, axis);
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(2);
    let hi = series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.05 } else { 1.0 };
    let (x0, y0, x1, y1) = (
        LEFT as f64,
        TOP as f64,
        (pw - RIGHT) as f64,
        (ph - BOTTOM) as f64,
    );
    let px = |i: usize| x0 + i as f64 / (n - 1) as f64 * (x1 - x0);
    let py = |v: f64| y1 - (v / hi).clamp(0.0, 1.0) * (y1 - y0);
    let step = tick_step(hi, 5.0);
    let mut v = 0.0;
    while v <= hi {
        let y = py(v);
        line(&mut img, (x0, y), (x1, y), Rgb([225, 225, 225]));
        let text = fmt(v);
        draw_text(
            &mut img,
            LEFT.saturating_sub(8 * text.len() as u32 + 6),
            (y as u32).saturating_sub(4),
            &text,
            label,
        );
        v += step;
    }
    line(&mut img, (x0, y0), (x0, y1), axis);
    line(&mut img, (x0, y1), (x1, y1), axis);
    draw_text(
        &mut img,
        LEFT,
        ph - BOTTOM + 8,
        &format!("{x_label} 1"),
        label,
    );
    let end = n.to_string();
    draw_text(
        &mut img,
        pw - RIGHT - 8 * end.len() as u32,
        ph - BOTTOM + 8,
        &end,
        label,
    );
    for (k, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        for (i, w) in values.windows(2).enumerate() {
            if let (Some(a), Some(b)) = (w[0], w[1]) {
                line(&mut img, (px(i), py(a)), (px(i + 1), py(b)), color);
                line(
                    &mut img,
                    (px(i), py(a) + 1.0),
                    (px(i + 1), py(b) + 1.0),
                    color,
                );
            }
        }
        let y = ph + 4 + 14 * k as u32;
        for dy in 0..8 {
            for dx in 0..16 {
                img.put_pixel(LEFT + dx, y + dy, color);
            }
        }
        draw_text(&mut img, LEFT + 22, y, name, axis);
    }
    img
}

/// Writes the loss curve to `path` atomically (`stylecast::atomic_write`), so an image
/// viewer refreshing it mid-run, or a `host-train plot` beside a running training, never
/// reads or leaves half a picture.
pub fn save_loss_curve(history: &[LossRecord], path: &Path) -> Result<()> {
    stylecast::io::image::save_png(&loss_curve(history), path)?;
    Ok(())
}

/// `host-train plot`: reads a run's `losses.jsonl` (or the run folder holding it) and
/// draws its loss curve, by default beside it. Returns the PNG written and the number of
/// steps plotted.
pub fn plot_log(input: &Path, output: Option<&Path>) -> Result<(PathBuf, usize)> {
    let log = if input.is_dir() {
        input.join(LOG_FILE)
    } else {
        input.to_path_buf()
    };
    let history = log::read(&log)?;
    if history.is_empty() {
        bail!("{}: no loss records yet", log.display());
    }
    let dir = log.parent().unwrap_or(Path::new("."));
    let out = match output {
        Some(o) => o.to_path_buf(),
        None => dir.join(CURVE_FILE),
    };
    save_loss_curve(&history, &out)?;
    Ok((out, history.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u64, style: f64) -> LossRecord {
        LossRecord {
            step,
            content: 1e5 + (step % 7) as f64,
            style,
            tv: 10.0,
            total: 1e5 + style + 10.0,
            images_per_sec: 1.0,
            stability: 0.0,
            styles: Vec::new(),
        }
    }

    /// Mean row of the style panel's bold colour within a column band of the plot area.
    fn curve_row(img: &RgbImage, cols: std::ops::Range<u32>) -> f64 {
        let (ox, oy) = panel_origin(2, 2);
        let color = SERIES[2].1;
        let mut rows = Vec::new();
        for x in cols {
            for y in PLOT.1..PLOT.3 {
                if *img.get_pixel(ox + x, oy + y) == color {
                    rows.push(y as f64);
                }
            }
        }
        assert!(!rows.is_empty(), "no curve pixels in the band");
        rows.iter().sum::<f64>() / rows.len() as f64
    }

    #[test]
    fn a_small_decline_fills_the_panel_on_a_linear_scale() {
        // A continuing run: style falls 20% with noise and one huge early spike. The
        // old single log-scale plot drew this as a flat line.
        let h: Vec<LossRecord> = (1..=1000)
            .map(|s| {
                let base = 1.0e5 * (1.0 - 0.2 * s as f64 / 1000.0);
                let noise = if s % 2 == 0 { 1.05 } else { 0.95 };
                rec(s, if s == 3 { 1e9 } else { base * noise })
            })
            .collect();
        let img = loss_curve(&h);
        let left = curve_row(&img, PLOT.0 + 10..PLOT.0 + 40);
        let right = curve_row(&img, PLOT.2 - 40..PLOT.2 - 10);
        let height = (PLOT.3 - PLOT.1) as f64;
        // Lower on screen = larger row index; a 20% fall spans most of the panel.
        assert!(
            right - left > 0.4 * height,
            "left {left} right {right}: decline not visible"
        );
    }

    #[test]
    fn a_thousandfold_fall_uses_a_log_scale() {
        let h: Vec<LossRecord> = (1..=500)
            .map(|s| rec(s, 1e8 * (-(s as f64) / 500.0 * 7.0).exp()))
            .collect();
        let img = loss_curve(&h);
        // On a log scale an exponential decay is a straight line: the middle of the
        // curve lies halfway between its ends.
        let left = curve_row(&img, PLOT.0 + 2..PLOT.0 + 12);
        let mid_x = (PLOT.0 + PLOT.2) / 2;
        let mid = curve_row(&img, mid_x - 5..mid_x + 5);
        let right = curve_row(&img, PLOT.2 - 12..PLOT.2 - 2);
        let halfway = (left + right) / 2.0;
        assert!(
            (mid - halfway).abs() < 0.08 * (right - left),
            "left {left} mid {mid} right {right}: not log-linear"
        );
    }

    #[test]
    fn labels_are_compact() {
        assert_eq!(fmt(123456.0), "1.235e5");
        assert_eq!(fmt(98.5), "98.5");
        assert_eq!(fmt(0.0003), "3e-4");
        assert_eq!(fmt(100.0), "100");
        assert_eq!(tick_step(23.0, 4.0), 10.0);
        assert_eq!(tick_step(0.9, 4.0), 0.5);
    }

    #[test]
    fn a_stability_term_gets_a_panel_of_its_own() {
        let plain: Vec<_> = (1..=50).map(|s| rec(s, 1e6)).collect();
        assert_eq!(loss_curve(&plain).dimensions(), (2 * PANEL_W, 2 * PANEL_H));
        let with: Vec<_> = (1..=50)
            .map(|s| LossRecord {
                stability: 1e5 / s as f64,
                ..rec(s, 1e6)
            })
            .collect();
        let img = loss_curve(&with);
        assert_eq!(img.dimensions(), (3 * PANEL_W, 2 * PANEL_H));
        let (ox, oy) = panel_origin(4, 3);
        let drawn = (PLOT.1..PLOT.3)
            .flat_map(|y| (PLOT.0..PLOT.2).map(move |x| (x, y)))
            .filter(|&(x, y)| *img.get_pixel(ox + x, oy + y) == STABILITY.1)
            .count();
        assert!(drawn > 50, "stability panel has {drawn} curve pixels");
    }

    #[test]
    fn a_multi_style_log_gets_one_line_per_style() {
        use crate::log::StyleLoss;
        let h: Vec<_> = (1..=60)
            .map(|s| LossRecord {
                // Each step draws two of the three styles.
                styles: [(s % 3) as usize, ((s + 1) % 3) as usize]
                    .into_iter()
                    .map(|i| StyleLoss {
                        index: i,
                        name: format!("style{i}"),
                        content: 1.0,
                        style: 1e6 * (i + 1) as f64 / s as f64,
                        n: 1,
                    })
                    .collect(),
                ..rec(s, 1e6)
            })
            .collect();
        let img = loss_curve(&h);
        assert_eq!(img.dimensions(), (3 * PANEL_W, 2 * PANEL_H));
        let (ox, oy) = panel_origin(4, 3);
        for color in &STYLE_COLORS[..3] {
            let drawn = (PLOT.1..PLOT.3)
                .flat_map(|y| (PLOT.0..PLOT.2).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(ox + x, oy + y) == color)
                .count();
            assert!(drawn > 50, "{color:?}: {drawn} curve pixels");
        }
        // A one-style log has no such panel.
        assert_eq!(style_curves(&[rec(1, 1.0)]).len(), 0);
    }

    #[test]
    fn empty_and_non_finite_histories_draw_blank_panels() {
        let img = loss_curve(&[]);
        assert_eq!(img.dimensions(), (2 * PANEL_W, 2 * PANEL_H));
        let h = vec![rec(1, f64::NAN), rec(2, f64::INFINITY)];
        let img = loss_curve(&h);
        let (ox, oy) = panel_origin(2, 2);
        let color = SERIES[2].1;
        let drawn = (PLOT.1..PLOT.3)
            .flat_map(|y| (PLOT.0..PLOT.2).map(move |x| (x, y)))
            .any(|(x, y)| *img.get_pixel(ox + x, oy + y) == color);
        assert!(!drawn, "non-finite values were plotted");
    }
}
