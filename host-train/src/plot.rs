//! A loss-curve picture: content, style, TV and total (weighted) on a log scale.
//! Drawn directly into an image; labels use the `font8x8` bitmap font, so no system
//! fonts are needed on a headless training box.

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

use crate::train::LossRecord;

const W: u32 = 900;
const H: u32 = 500;
const LEFT: u32 = 90;
const RIGHT: u32 = 20;
const TOP: u32 = 40;
const BOTTOM: u32 = 50;

pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, color: Rgb<u8>) {
    for (i, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    let (px, py) = (x + i as u32 * 8 + col, y + row as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, color);
                    }
                }
            }
        }
    }
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

/// Renders the curves; long runs are averaged into at most ~800 points per series.
pub fn loss_curve(history: &[LossRecord]) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let series: [Series; 4] = [
        ("total", Rgb([0, 0, 0]), |r| r.total),
        ("content", Rgb([31, 119, 180]), |r| r.content),
        ("style", Rgb([214, 39, 40]), |r| r.style),
        ("tv", Rgb([44, 160, 44]), |r| r.tv),
    ];
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let all: Vec<f64> = history
        .iter()
        .flat_map(|r| series.iter().map(move |s| (s.2)(r)))
        .filter(|v| positive(*v))
        .collect();
    if all.is_empty() {
        return img;
    }
    let lo = all
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let hi = all
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let (s0, s1) = (
        history[0].step as f64,
        history[history.len() - 1].step.max(history[0].step + 1) as f64,
    );
    let pw = (W - LEFT - RIGHT) as f64;
    let ph = (H - TOP - BOTTOM) as f64;
    let px = |s: f64| LEFT as f64 + (s - s0) / (s1 - s0) * pw;
    let py = |v: f64| TOP as f64 + (hi - v.log10()) / (hi - lo) * ph;
    let grey = Rgb([220, 220, 220]);
    let mut d = lo;
    while d <= hi {
        let y = py(10f64.powf(d));
        line(&mut img, (LEFT as f64, y), ((W - RIGHT) as f64, y), grey);
        draw_text(
            &mut img,
            8,
            (y as u32).saturating_sub(4),
            &format!("1e{}", d as i32),
            Rgb([80, 80, 80]),
        );
        d += 1.0;
    }
    let axis = Rgb([0, 0, 0]);
    line(
        &mut img,
        (LEFT as f64, TOP as f64),
        (LEFT as f64, (H - BOTTOM) as f64),
        axis,
    );
    line(
        &mut img,
        (LEFT as f64, (H - BOTTOM) as f64),
        ((W - RIGHT) as f64, (H - BOTTOM) as f64),
        axis,
    );
    draw_text(
        &mut img,
        LEFT,
        H - BOTTOM + 8,
        &format!("step {}", s0 as u64),
        axis,
    );
    let end = format!("{}", s1 as u64);
    draw_text(
        &mut img,
        W - RIGHT - 8 * end.len() as u32,
        H - BOTTOM + 8,
        &end,
        axis,
    );
    draw_text(
        &mut img,
        W / 2 - 100,
        H - 20,
        "training step (log-scale loss)",
        axis,
    );
    let bucket = history.len().div_ceil(800).max(1);
    for (k, (name, color, f)) in series.iter().enumerate() {
        draw_text(&mut img, LEFT + 10 + k as u32 * 110, 14, name, *color);
        let pts: Vec<(f64, f64)> = history
            .chunks(bucket)
            .filter_map(|c| {
                let vals: Vec<f64> = c.iter().map(f).filter(|v| positive(*v)).collect();
                (!vals.is_empty()).then(|| {
                    (
                        px(c[c.len() / 2].step as f64),
                        py(vals.iter().sum::<f64>() / vals.len() as f64),
                    )
                })
            })
            .collect();
        for w in pts.windows(2) {
            line(&mut img, w[0], w[1], *color);
        }
    }
    img
}
