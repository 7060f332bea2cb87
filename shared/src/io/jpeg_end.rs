//! Whether a JPEG file is complete. JPEG decoders fill a truncated file's missing rows
//! with grey and report success, so the check is ours: walk the marker segments (skipping
//! each by its length, so an EXIF thumbnail's own end marker inside APP1 is never seen),
//! then the entropy-coded data of every scan, and require the end-of-image marker (FF D9)
//! after the last one.

/// True when the segments and scans of `b` run to an end-of-image marker.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        // The next marker: 0xFF, any fill bytes, then its code.
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = b.get(i) else {
            return false;
        };
        i += 1;
        match code {
            0xD9 => return true,
            // Markers without a length: TEM, RSTn, a stray SOI.
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        else {
            return false;
        };
        if len < 2 {
            return false;
        }
        i += len;
        if i > b.len() {
            return false;
        }
        if code == 0xDA {
            // Entropy-coded data: 0xFF is followed by 00 (a stuffed byte) or a restart
            // marker; anything else is the next marker.
            loop {
                if i + 1 >= b.len() {
                    return false;
                }
                if b[i] == 0xFF && !matches!(b[i + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
                    break;
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut v = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Jpeg)
            .unwrap();
        v
    }

    #[test]
    fn complete_files_pass_and_cut_ones_fail_even_with_a_thumbnail() {
        let main = jpeg(64, 48);
        assert!(jpeg_is_complete(&main));
        // Trailing bytes after the end marker (some cameras append data) are fine.
        let mut trailing = main.clone();
        trailing.extend_from_slice(b"vendor data");
        assert!(jpeg_is_complete(&trailing));
        for cut in [main.len() - 2, main.len() / 2, 30] {
            assert!(!jpeg_is_complete(&main[..cut]), "cut at {cut}");
        }
        // A complete thumbnail in an APP1 segment: its FF D9 must not count.
        let thumb = jpeg(8, 8);
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((thumb.len() + 8) as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&thumb);
        let mut with_thumb = main[..2].to_vec();
        with_thumb.extend_from_slice(&app1);
        with_thumb.extend_from_slice(&main[2..]);
        assert!(jpeg_is_complete(&with_thumb));
        let cut = &with_thumb[..with_thumb.len() - main.len() / 2];
        assert!(
            cut.windows(2).any(|w| w == [0xFF, 0xD9]),
            "the old check passes it"
        );
        assert!(!jpeg_is_complete(cut));
    }
}
