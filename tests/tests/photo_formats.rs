//! A CMYK JPEG (print workflows write them) decodes to the RGB a viewer shows. Made here with
//! ImageMagick, which `.ci/run` installs for the window tests.

use std::process::Command;

#[test]
fn a_cmyk_jpeg_decodes_to_its_colour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmyk.jpg");
    let made = Command::new("convert")
        .args(["-size", "16x16", "xc:rgb(200,30,30)", "-colorspace", "CMYK"])
        .arg(&path)
        .output();
    match made {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("\n!!!! SKIPPED: ImageMagick's convert is missing (apt-get install imagemagick) !!!!\n");
            return;
        }
    }
    let img = stylecast::io::image::load_rgb(&path).unwrap();
    let [r, g, b] = img.get_pixel(8, 8).0;
    // A red, within what CMYK's round trip and JPEG leave of it.
    assert!(
        r > 150 && g < 80 && b < 80,
        "CMYK red came out as {r},{g},{b}"
    );
}
