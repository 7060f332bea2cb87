//! The README's main job, `edge-runtime` with no arguments, on a machine with no display
//! (and, here, no camera): it stylizes the bundled demo photo with every shipped style into
//! ./stylecast-out, plus a before/after sheet, and prints the paths.

use std::process::Command;

use stylecast_e2e::bin;

#[test]
fn no_arguments_without_display_writes_every_style_and_a_sheet() {
    if std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false)
    {
        eprintln!("!!!! a camera node exists here: the default run would stream from it; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin("edge-runtime"))
        .current_dir(dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let printed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let photo = stylecast::io::image::load_rgb(&root.join("assets/demo.jpg")).unwrap();
    let shipped = stylecast::io::model_file::models_in(&root.join("models")).unwrap();
    assert!(shipped.len() >= 2, "{shipped:?}");
    // One file per shipped style, at the photo's own size, then the sheet.
    assert_eq!(printed.len(), shipped.len() + 1, "{printed:?}\n{err}");
    let mut seen = std::collections::HashSet::new();
    for (line, model) in printed.iter().zip(&shipped) {
        let style = stylecast::io::model_file::ModelFile::load(model, &candle_core::Device::Cpu)
            .unwrap()
            .meta
            .style;
        assert!(line.starts_with("stylecast-out/"), "{line}");
        assert!(line.contains(&style), "{line} for {style}");
        let img = stylecast::io::image::load_rgb(&dir.path().join(line)).unwrap();
        assert_eq!(img.dimensions(), photo.dimensions(), "{line}");
        // Stylized: far from the photo, and each style differs from the others.
        assert!(
            stylecast::io::image::psnr(&img, &photo) < 20.0,
            "{line} looks like the photo"
        );
        assert!(seen.insert(img.into_raw()), "{line} repeats another style");
    }
    let sheet_line = printed.last().unwrap();
    assert!(sheet_line.ends_with("demo_sheet.png"), "{sheet_line}");
    let sheet = stylecast::io::image::load_rgb(&dir.path().join(sheet_line)).unwrap();
    // The photo and each style side by side.
    assert!(
        sheet.width() > sheet.height() * (shipped.len() as u32),
        "{:?}",
        sheet.dimensions()
    );
}
