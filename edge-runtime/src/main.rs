//! edge-runtime: run stylecast styles on a device: a camera to a window (kiosk mode),
//! or image files in and PNG files out without a display.

mod bench;
mod cli;
mod demo;
mod files;
mod live;
mod models;
mod say;
mod sheet;
mod video;

use cli::Job;

fn main() {
    stylecast::tune_malloc();
    stylecast::tune_cpu_workers_for_frames();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    match cli::parse()? {
        Job::Bench(s) => bench::run(&s),
        Job::Sheet(s) => sheet::run(&s),
        Job::Demo(s) => demo::run(&s),
        Job::Files(s) => files::run(&s),
        Job::Video(s) => video::run(&s),
        Job::Live(s) => live::run(&s),
    }
}
