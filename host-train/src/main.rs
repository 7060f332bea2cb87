//! host-train: train a style on a workstation, convert and export models.
//!
//! `main` parses the command line (`cli.rs`) and makes one call per command; the
//! functions below only print what the library did.

mod cli;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use clap::Parser;
use host_train::train::{prepare, train, Outcome, RunFolder};
use stylecast::ModelFile;

use cli::{
    CheckDeviceArgs, Cli, Command, ExportArgs, ImportOnnxArgs, ImportTorchArgs, PlotArgs, TrainRun,
};

fn main() -> Result<()> {
    stylecast::tune_malloc();
    match Cli::parse().command {
        Command::Train(a) => run_training(a.resolve()?),
        Command::AddStyle(a) => add_style(a.resolve()?),
        Command::ImportTorch(a) => import_torch(a),
        Command::Bench(a) => host_train::bench::run(&a.into()),
        Command::Eval(a) => host_train::eval_video::run(&a.into()),
        Command::CheckDevice(a) => check_device(a),
        Command::Export(a) => export(a),
        Command::ImportOnnx(a) => import_onnx(a),
        Command::Plot(a) => plot(a),
    }
}

/// Trains with a stop handler for SIGINT (Ctrl-C), SIGTERM and SIGHUP (`systemctl stop`,
/// `timeout`, schedulers, a closed terminal): the first saves a checkpoint and stops, the
/// second aborts. Reports the outcome; an interrupted run exits with 130.
fn run_training(run: TrainRun) -> Result<()> {
    let TrainRun {
        options,
        resume,
        overwrite,
    } = run;
    if let RunFolder::MovedAside(old) = prepare(&options, resume.is_some(), overwrite)? {
        eprintln!(
            "--overwrite: the earlier run is now {}; starting afresh",
            old.display()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130); // a second signal: give up at once
        }
        // After SIGHUP the terminal may be gone: a failed write must not stop the save.
        let _ = writeln!(
            std::io::stderr(),
            "\nstopping after this step; writing a checkpoint (Ctrl-C again to abort)"
        );
    })
    .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
    match train(&options, resume.as_deref(), stop)? {
        Outcome::Finished {
            steps,
            last,
            ended_by,
        } => {
            println!(
                "trained {steps} steps (ended by {ended_by}): wrote {} and {}",
                options.out.display(),
                options.f16_path().display()
            );
            if let Some(l) = last {
                println!(
                    "final losses: content {:.4e}  style {:.4e}  tv {:.4e}",
                    l.content, l.style, l.tv
                );
            }
            println!(
                "previews, losses.jsonl and loss_curve.png in {}",
                options.run_dir().display()
            );
            Ok(())
        }
        Outcome::Interrupted { step, checkpoint } => {
            let _ = writeln!(
                std::io::stdout(),
                "interrupted at step {step}; resume with the same command plus --resume {}",
                checkpoint.display()
            );
            std::process::exit(130);
        }
    }
}

/// Adds a style; Ctrl-C (or SIGTERM, SIGHUP) ends the steps early and the model is still
/// written.
fn add_style(o: host_train::add_style::AddStyleOptions) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        let _ = writeln!(
            std::io::stderr(),
            "\nstopping after this step; writing the model (Ctrl-C again to abort)"
        );
    })
    .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
    let r = host_train::add_style::add_style(&o, &stop)?;
    println!(
        "added {:?} in {} steps ({:.0} ms/step{}): style loss {:.4e} -> {:.4e}",
        r.names.last().map(String::as_str).unwrap_or(""),
        r.steps,
        r.seconds * 1e3 / r.steps.max(1) as f64,
        r.started_from
            .as_ref()
            .map(|f| format!(", started from {f}"))
            .unwrap_or_default(),
        r.first_style,
        r.last_style
    );
    println!(
        "wrote {} and {}: styles {}",
        o.out.display(),
        o.f16_path().display(),
        r.names.join(", ")
    );
    Ok(())
}

fn import_torch(a: ImportTorchArgs) -> Result<()> {
    let m = ModelFile::import_pth(&a.input, &a.name)?;
    let m = if a.f16 { m.to_dtype(DType::F16)? } else { m };
    m.save(&a.output)?;
    println!(
        "imported {} -> {} ({:?}, {} tensors)",
        a.input.display(),
        a.output.display(),
        m.dtype(),
        m.tensors.len()
    );
    Ok(())
}

fn check_device(a: CheckDeviceArgs) -> Result<()> {
    let worst = host_train::device_check::check_device(&a.device, a.vgg.as_deref())?;
    if worst > 1e-3 {
        bail!(
            "{} differs from the CPU by {worst:.2e} (more than 1e-3)",
            a.device
        );
    }
    println!(
        "{} agrees with the CPU (worst relative difference {worst:.2e})",
        a.device
    );
    Ok(())
}

/// Re-saves a model or a checkpoint's model; `--f32` is the default, so only `--f16`
/// changes anything.
fn export(a: ExportArgs) -> Result<()> {
    let m = if host_train::checkpoint::is_checkpoint(&a.input) {
        host_train::checkpoint::to_model(&a.input)?
    } else {
        ModelFile::load(&a.input, &Device::Cpu)?
    };
    if a.onnx {
        let opts = host_train::onnx::ExportOptions {
            f16: a.f16,
            border_pad: a.with_border_pad,
        };
        host_train::onnx::export(&m, &opts, &a.output)?;
        let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
        let border = match a.with_border_pad {
            Some(b) => format!("border pad {b}, any size"),
            None => "no border pad, sides multiples of 4".into(),
        };
        println!(
            "wrote {} (ONNX opset {}, {}, {border}, {:.1} MB)",
            a.output.display(),
            host_train::onnx::export::OPSET,
            if a.f16 { "f16" } else { "f32" },
            size as f64 / 1e6
        );
        return Ok(());
    }
    let m = m.to_dtype(if a.f16 { DType::F16 } else { DType::F32 })?;
    m.save(&a.output)?;
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({:?}, {:.1} MB)",
        a.output.display(),
        m.dtype(),
        size as f64 / 1e6
    );
    Ok(())
}

fn import_onnx(a: ImportOnnxArgs) -> Result<()> {
    let m = host_train::onnx::import(&a.input, &a.style)?;
    let m = if a.f16 { m.to_dtype(DType::F16)? } else { m };
    m.save(&a.output)?;
    let [c1, c2, c3] = m.meta.config.channels;
    println!(
        "imported {} -> {} ({:?}; channels {c1}/{c2}/{c3}, {} residual blocks)",
        a.input.display(),
        a.output.display(),
        m.dtype(),
        m.meta.config.residual_blocks
    );
    Ok(())
}

fn plot(a: PlotArgs) -> Result<()> {
    let (written, records) = host_train::plot::plot_log(&a.input, a.output.as_deref())?;
    println!("wrote {} ({records} steps)", written.display());
    Ok(())
}
