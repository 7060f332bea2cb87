//! `host-train eval --video CLIP`: how much each model's output flickers on real footage,
//! as the warping error of Lai et al. 2018 (warp_error.rs) over the clip's frame pairs.
//! The clip is read once (`stylecast::io::video::FrameReader`); each frame goes through
//! every model (the library's `Stylizer`, default border pad, at the clip's size or
//! `--max-side`), so memory stays at a few frames per model whatever the clip's length.
//! Rows beside the models: the input itself (the floor: flow errors and lighting changes
//! that no output can avoid) and, for each `--smooth A`, each model through the run-time
//! temporal filter (`stylecast::temporal`, as `edge-runtime --smooth A` applies it).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::RgbImage;
use serde::Serialize;
use stylecast::io::video::FrameReader;
use stylecast::temporal::TemporalSmoother;
use stylecast::{Precision, StylizeOptions, Stylizer};

use crate::eval::{self, EvalOptions, Score};
use crate::flow::{Plane, TvL1};
use crate::warp_error::{pair_error, Correspondence, PairError};

/// What to measure (the video flags of `host-train eval`).
#[derive(Debug, Clone)]
pub struct VideoEvalOptions {
    /// Model files (.safetensors), or folders of them.
    pub models: Vec<PathBuf>,
    /// The clips.
    pub videos: Vec<PathBuf>,
    /// Frames are decoded shrunk to this longer side [default: the clip's size].
    pub max_side: Option<u32>,
    /// Only the first N frames of each clip.
    pub max_frames: Option<u64>,
    /// Temporal filter amounts (0-1) to add rows for, each model through each.
    pub smooth: Vec<f32>,
    /// cpu, cuda or cuda:N.
    pub device: String,
}

/// One output of one clip: its warping error and what it was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct VideoScore {
    pub clip: PathBuf,
    /// `input` (the frames themselves), else the model file's name, `+ smooth A` after it
    /// for the filtered rows.
    pub output: String,
    pub model: Option<PathBuf>,
    pub style: Option<String>,
    /// The temporal filter's amount (0: none).
    pub smooth: f32,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    /// Frame pairs with trusted pixels (the mean is over these).
    pub pairs: usize,
    /// Mean share of pixels whose flow passed the consistency check.
    pub coverage: f64,
    /// Mean over pairs of mean |O_t - warp(O_{t-1})| per channel, 0-255 levels.
    pub warp_error: f64,
    /// The same pairs scored as Lai et al. write it (squared, 0-1 values, summed over the
    /// channels), for comparing with their tables.
    pub warp_mse: f64,
    /// The warping error of each pair (frame t against t-1, t from 1); `null` where no
    /// pixel was trusted.
    pub per_frame: Vec<Option<f64>>,
}

/// One row being measured: where its frames come from and its running state.
struct Row {
    label: String,
    /// Index into the models; `None`: the input itself.
    model: Option<usize>,
    smoother: TemporalSmoother,
    prev: Option<RgbImage>,
    errors: Vec<Option<PairError>>,
}

/// `host-train eval` as parsed: photo scores, video scores, or both.
#[derive(Debug, Clone)]
pub struct EvalCommand {
    pub photos: Option<EvalOptions>,
    pub video: Option<VideoEvalOptions>,
    /// Where the scores go as JSON (as well as the table).
    pub json: Option<PathBuf>,
    /// The per-frame warping error chart (PNG), with `video`.
    pub plot: Option<PathBuf>,
}

/// The JSON of a run with `--video`.
#[derive(Serialize)]
struct Report<'a> {
    photos: Option<&'a [Score]>,
    video: &'a [VideoScore],
}

/// Runs `host-train eval`: the photo table, then with `--video` a table per clip.
pub fn run(c: &EvalCommand) -> Result<()> {
    let Some(video) = &c.video else {
        let Some(photos) = &c.photos else {
            bail!("nothing to score: give --photos and --styles, or --video CLIP");
        };
        return eval::run(&EvalOptions {
            json: c.json.clone(),
            ..photos.clone()
        });
    };
    // Every clip is checked before the photo scores' minutes of work.
    check_clips(video)?;
    let photo_scores = match &c.photos {
        Some(p) => {
            let s = eval::evaluate(p)?;
            print!("{}", eval::table(&s));
            println!(
                "{}",
                eval::legend(s.first().map_or(0, |s| s.photos), p.size)
            );
            Some(s)
        }
        None => None,
    };
    let scores = evaluate_video(video)?;
    let flicker = |m: &Path| {
        photo_scores
            .as_ref()?
            .iter()
            .find(|s| s.model == m)
            .map(|s| s.flicker)
    };
    print!("{}", table(&scores, &flicker));
    println!("{LEGEND}");
    if let Some(p) = &c.plot {
        stylecast::io::image::save_png(&chart(&scores), p)
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    if let Some(j) = &c.json {
        let report = Report {
            photos: photo_scores.as_deref(),
            video: &scores,
        };
        stylecast::atomic_write(j, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("writing {}", j.display()))?;
    }
    Ok(())
}

fn check_clips(o: &VideoEvalOptions) -> Result<()> {
    if o.videos.is_empty() {
        bail!("no clips: give --video CLIP");
    }
    if let Some(a) = o.smooth.iter().find(|a| !(0.0..=1.0).contains(*a)) {
        bail!("--smooth {a}: outside 0..1");
    }
    for clip in &o.videos {
        stylecast::io::video::probe(clip)?;
    }
    Ok(())
}

/// The per-frame warping error of every output, a panel per clip.
pub fn chart(scores: &[VideoScore]) -> RgbImage {
    let mut clips: Vec<&Path> = scores.iter().map(|s| s.clip.as_path()).collect();
    clips.dedup();
    let panels: Vec<RgbImage> = clips
        .iter()
        .map(|clip| {
            let series: Vec<(String, Vec<Option<f64>>)> = scores
                .iter()
                .filter(|s| s.clip == *clip)
                .map(|s| (s.output.clone(), s.per_frame.clone()))
                .collect();
            crate::plot::lines_chart(
                &format!("warping error per frame, {}", file_name(clip)),
                "frame",
                &series,
            )
        })
        .collect();
    let w = panels.iter().map(|p| p.width()).max().unwrap_or(1);
    let h = panels.iter().map(|p| p.height()).sum::<u32>().max(1);
    let mut out = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let mut y = 0;
    for p in &panels {
        image::imageops::replace(&mut out, p, 0, y as i64);
        y += p.height();
    }
    out
}

/// Measures every model (and the input, and the `--smooth` rows) on every clip.
pub fn evaluate_video(o: &VideoEvalOptions) -> Result<Vec<VideoScore>> {
    check_clips(o)?;
    let device = stylecast::parse_device(&o.device)?;
    let paths = stylecast::io::model_file::expand_model_paths(&o.models)?;
    // f32 whatever the file's dtype, as the photo scores: the weights, not f16 rounding.
    let models = paths
        .iter()
        .map(|p| Ok((p.clone(), Stylizer::load(p, &device, Precision::F32)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut scores = Vec::new();
    for clip in &o.videos {
        scores.extend(evaluate_clip(clip, &models, o)?);
    }
    Ok(scores)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Each model's file name, with its folder where two share a name (models/ and
/// models/small/ both hold a starry_night.safetensors).
fn model_labels(models: &[(PathBuf, Stylizer)]) -> Vec<String> {
    let names: Vec<String> = models.iter().map(|(p, _)| file_name(p)).collect();
    models
        .iter()
        .zip(&names)
        .map(|((p, _), n)| {
            if names.iter().filter(|m| *m == n).count() > 1 {
                match p.parent().and_then(|d| d.file_name()) {
                    Some(d) => format!("{}/{n}", d.to_string_lossy()),
                    None => n.clone(),
                }
            } else {
                n.clone()
            }
        })
        .collect()
}

fn evaluate_clip(
    clip: &Path,
    models: &[(PathBuf, Stylizer)],
    o: &VideoEvalOptions,
) -> Result<Vec<VideoScore>> {
    let mut reader = FrameReader::open(clip, o.max_side)?;
    let (w, h) = reader.size();
    let mut rows = vec![Row {
        label: "input".into(),
        model: None,
        smoother: TemporalSmoother::new(0.0),
        prev: None,
        errors: Vec::new(),
    }];
    let names = model_labels(models);
    for (k, name) in names.iter().enumerate() {
        for a in std::iter::once(0.0).chain(o.smooth.iter().copied()) {
            rows.push(Row {
                label: if a > 0.0 {
                    format!("{name} + smooth {a}")
                } else {
                    name.clone()
                },
                model: Some(k),
                smoother: TemporalSmoother::new(a),
                prev: None,
                errors: Vec::new(),
            });
        }
    }
    let declared = reader.info().frames;
    let limit = o.max_frames.unwrap_or(u64::MAX);
    let pb = match declared.map(|n| n.min(limit)) {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    let tvl1 = TvL1::default();
    let opts = StylizeOptions::default();
    let mut prev: Option<Plane> = None;
    let mut coverage = Vec::new();
    let mut stopped_early = false;
    while let Some(frame) = reader.next_frame()? {
        let plane = Plane::luma(&frame);
        let c = prev.as_ref().map(|p| Correspondence::new(p, &plane, &tvl1));
        if let Some(c) = &c {
            coverage.push(c.coverage());
        }
        let styled = models
            .iter()
            .map(|(path, st)| {
                st.stylize(&frame, &opts)
                    .with_context(|| format!("{}: stylizing a frame", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        for row in rows.iter_mut() {
            let out = match row.model {
                None => frame.clone(),
                Some(k) => row.smoother.apply(&frame, styled[k].clone()),
            };
            if let (Some(c), Some(p)) = (&c, &row.prev) {
                row.errors.push(pair_error(p, &out, c));
            }
            row.prev = Some(out);
        }
        prev = Some(plane);
        pb.inc(1);
        if reader.frames_read() >= limit {
            stopped_early = true;
            break;
        }
    }
    pb.finish_and_clear();
    let frames = reader.frames_read();
    if stopped_early {
        reader.stop();
    } else {
        reader.finish()?;
        if let Some(want) = declared.filter(|&want| frames < want) {
            bail!(
                "{}: truncated or damaged: its header declares {want} frames, only {frames} could be decoded",
                clip.display()
            );
        }
    }
    if frames < 2 {
        bail!(
            "{}: {frames} frame(s) decoded; the warping error needs at least 2",
            clip.display()
        );
    }
    let coverage = coverage.iter().sum::<f64>() / coverage.len().max(1) as f64;
    Ok(rows
        .into_iter()
        .map(|r| {
            let got: Vec<PairError> = r.errors.iter().flatten().copied().collect();
            let n = got.len().max(1) as f64;
            VideoScore {
                clip: clip.to_path_buf(),
                output: r.label,
                model: r.model.map(|k| models[k].0.clone()),
                style: r.model.map(|k| models[k].1.style_label()),
                smooth: r.smoother.amount(),
                width: w,
                height: h,
                frames,
                pairs: got.len(),
                coverage,
                warp_error: got.iter().map(|e| e.mean_abs).sum::<f64>() / n,
                warp_mse: got.iter().map(|e| e.mse).sum::<f64>() / n,
                per_frame: r.errors.iter().map(|e| e.map(|e| e.mean_abs)).collect(),
            }
        })
        .collect())
}

/// The scores as a table per clip, one output per line; `flicker` gives the photo
/// scores' shift-based flicker of a model file, where they were measured too.
pub fn table(scores: &[VideoScore], flicker: &dyn Fn(&Path) -> Option<f64>) -> String {
    let mut s = String::new();
    let mut last: Option<&Path> = None;
    for r in scores {
        if last != Some(r.clip.as_path()) {
            last = Some(&r.clip);
            s += &format!(
                "\n{}: {}x{}, {} frames, flow consistent on {:.1}% of pixels\n{:<44} {:>10} {:>9} {:>13}\n",
                r.clip.display(),
                r.width,
                r.height,
                r.frames,
                r.coverage * 100.0,
                "output",
                "warp error",
                "Lai MSE",
                "shift flicker"
            );
        }
        let shift = r
            .model
            .as_deref()
            .filter(|_| r.smooth == 0.0)
            .and_then(flicker)
            .map(|f| format!("{f:.2}"))
            .unwrap_or_else(|| "-".into());
        let label = if r.model.is_none() {
            "input (identity, the floor)".to_string()
        } else {
            r.output.clone()
        };
        s += &format!(
            "{:<44} {:>10.2} {:>9.5} {:>13}\n",
            label, r.warp_error, r.warp_mse, shift
        );
    }
    s
}

/// What the columns mean, printed under the table.
pub const LEGEND: &str = "warp error: mean |O_t - warp(O_{t-1})| (0-255 levels, per channel) over the pixels \
whose optical flow on the input frames (TV-L1, both ways) passes Lai et al.'s consistency check, averaged \
over frame pairs; the input row is the floor. Lai MSE: the same as Lai et al. 2018 write it (squared 0-1 \
values summed over RGB). shift flicker: the photo scores' flicker (eval --photos), for comparison.";
