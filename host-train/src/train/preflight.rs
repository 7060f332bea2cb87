//! Checks before a run loads anything: its outputs can be written, and a fresh run does
//! not wipe an earlier one's folder (`--overwrite` moves it aside, never deletes it).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::options::TrainOptions;

/// What [`prepare`] did to the run folder.
#[derive(Debug, PartialEq, Eq)]
pub enum RunFolder {
    /// Nothing to move: no earlier run there, or this run resumes it.
    AsIs,
    /// `--overwrite`: the earlier run's folder now lies here.
    MovedAside(PathBuf),
}

/// Refuses a run whose `--out` is a folder or cannot be written, and a fresh run (not
/// `resuming`) whose folder holds an earlier run's checkpoint, unless `overwrite`: then
/// that folder is renamed to `NAME.run.old-N` (the first free N).
pub fn prepare(opts: &TrainOptions, resuming: bool, overwrite: bool) -> Result<RunFolder> {
    check_outputs(opts)?;
    let run_dir = opts.run_dir();
    let ckpt = opts.checkpoint_path();
    if resuming || !run_dir.exists() {
        return Ok(RunFolder::AsIs);
    }
    if !overwrite {
        if ckpt.exists() {
            let step = crate::checkpoint::load(&ckpt, &candle_core::Device::Cpu)
                .map(|c| format!(" (at step {})", c.state.step))
                .unwrap_or_default();
            bail!(
                "{} already holds a run{step}: pass --resume {} to continue it, or --overwrite \
                 to move it aside to {} and start afresh",
                run_dir.display(),
                ckpt.display(),
                aside_path(&run_dir).display()
            );
        }
        // No checkpoint: nothing there can be resumed, so the folder is reused.
        return Ok(RunFolder::AsIs);
    }
    let aside = aside_path(&run_dir);
    std::fs::rename(&run_dir, &aside).with_context(|| {
        format!(
            "--overwrite: moving {} aside to {}",
            run_dir.display(),
            aside.display()
        )
    })?;
    Ok(RunFolder::MovedAside(aside))
}

/// `NAME.run.old-N` beside `run_dir`, N the first number not taken.
fn aside_path(run_dir: &Path) -> PathBuf {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.run".into());
    (1u64..)
        .map(|n| run_dir.with_file_name(format!("{name}.old-{n}")))
        .find(|p| p.symlink_metadata().is_err())
        .unwrap_or_else(|| run_dir.with_file_name(format!("{name}.old")))
}

/// `--out` and its f16 copy are files to be, in a folder we can create files in (tried
/// with a probe file), and the run folder's name is not taken by a file.
fn check_outputs(opts: &TrainOptions) -> Result<()> {
    // `models/new/` names a folder to be, not a file, even before it exists.
    let slash = opts.out.as_os_str().as_encoded_bytes().ends_with(b"/");
    for p in [&opts.out, &opts.f16_path()] {
        if p.is_dir() || slash {
            bail!(
                "--out {}: {} is a folder; give the model's file name, e.g. {}",
                opts.out.display(),
                p.display(),
                p.join("style.safetensors").display()
            );
        }
    }
    let run_dir = opts.run_dir();
    if run_dir.exists() && !run_dir.is_dir() {
        bail!(
            "{} is a file, not a run folder: move it, or choose another --out",
            run_dir.display()
        );
    }
    let parent = match opts.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| {
        format!(
            "--out {}: cannot create {}",
            opts.out.display(),
            parent.display()
        )
    })?;
    let probe = parent.join(format!(".host-train-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "--out {}: cannot write in {}",
                opts.out.display(),
                parent.display()
            )
        })?;
    // Only ours, and empty: a failure to remove it costs nothing.
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_moved_aside_take_the_first_free_number() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("wave.run");
        assert_eq!(aside_path(&run), dir.path().join("wave.run.old-1"));
        std::fs::create_dir(dir.path().join("wave.run.old-1")).unwrap();
        // A file, or a dangling link, takes a number too: nothing is ever replaced.
        std::fs::write(dir.path().join("wave.run.old-2"), b"x").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("wave.run.old-3")).unwrap();
        assert_eq!(aside_path(&run), dir.path().join("wave.run.old-4"));
    }
}
