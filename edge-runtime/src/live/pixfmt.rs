//! Camera pixel formats to 8-bit RGB: packed YUYV (4:2:2), MJPEG and RGB24.

use anyhow::{bail, Context, Result};
use image::RgbImage;

/// The capture formats we can decode, in v4l2 terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// YUYV 4:2:2: Y0 U Y1 V for each pair of pixels.
    Yuyv,
    /// Motion JPEG: one JPEG per frame, often without Huffman tables.
    Mjpeg,
    /// Packed RGB, 3 bytes per pixel.
    Rgb24,
}

impl PixelFormat {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Rgb24 => *b"RGB3",
        }
    }

    pub fn from_fourcc(code: &[u8; 4]) -> Option<Self> {
        match code {
            b"YUYV" => Some(PixelFormat::Yuyv),
            // Some drivers report plain JPEG for the same byte stream.
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            b"RGB3" => Some(PixelFormat::Rgb24),
            _ => None,
        }
    }
}

/// How one captured buffer is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    pub width: u32,
    pub height: u32,
    /// Bytes per row as the driver reports it (may exceed the packed width).
    pub stride: u32,
    pub format: PixelFormat,
}

impl FrameLayout {
    /// Converts one buffer to RGB; the buffer comes from a device, so it is checked.
    pub fn decode(self, data: &[u8]) -> Result<RgbImage> {
        match self.format {
            PixelFormat::Yuyv => yuyv_to_rgb(data, self.width, self.height, self.stride),
            PixelFormat::Rgb24 => rgb24_to_rgb(data, self.width, self.height, self.stride),
            PixelFormat::Mjpeg => mjpeg_to_rgb(data),
        }
    }
}

/// One BT.601 limited-range ("studio swing": Y in 16..235, Cb/Cr in 16..240) sample to RGB,
/// the matrix UVC cameras use for YUYV. 8-bit fixed point (coefficients scaled by 256):
/// R = 1.164(Y-16) + 1.596(V-128), G = 1.164(Y-16) - 0.391(U-128) - 0.813(V-128),
/// B = 1.164(Y-16) + 2.018(U-128).
#[inline]
pub fn yuv601_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16) + 128;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clamp = |x: i32| (x >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// Whether `data` holds a `width`x`height` frame of rows `row_bytes` long, `stride` apart.
fn check_size(
    kind: &str,
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    row_bytes: usize,
) -> Result<()> {
    if width == 0 || height == 0 {
        bail!("{kind} frame is {width}x{height}, it has no pixels");
    }
    let need = stride * (height as usize - 1) + row_bytes;
    if data.len() < need {
        bail!(
            "{kind} frame too short: {} bytes for {width}x{height} (stride {stride}), need {need}",
            data.len()
        );
    }
    Ok(())
}

/// Packed YUYV to RGB; `stride` is the bytes per row (at least 2 * width).
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> Result<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    // YUYV stores pixel pairs; an odd width still occupies a whole last pair.
    let row_bytes = w.div_ceil(2) * 4;
    let stride = (stride as usize).max(row_bytes);
    check_size("YUYV", data, width, height, stride, row_bytes)?;
    let mut out = vec![0u8; w * h * 3];
    for (row, dst) in out.chunks_exact_mut(w * 3).enumerate() {
        let src = &data[row * stride..row * stride + row_bytes];
        for (x, quad) in src.chunks_exact(4).enumerate() {
            let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
            let px = 2 * x;
            dst[px * 3..px * 3 + 3].copy_from_slice(&yuv601_to_rgb(y0, u, v));
            if px + 1 < w {
                dst[px * 3 + 3..px * 3 + 6].copy_from_slice(&yuv601_to_rgb(y1, u, v));
            }
        }
    }
    RgbImage::from_raw(width, height, out).context("YUYV conversion produced a wrong-sized buffer")
}

/// Packed RGB24 rows (possibly padded) to an image.
pub fn rgb24_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> Result<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let stride = (stride as usize).max(w * 3);
    check_size("RGB", data, width, height, stride, w * 3)?;
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    RgbImage::from_raw(width, height, out).context("RGB conversion produced a wrong-sized buffer")
}

/// Decodes one MJPEG frame with the image crate. UVC cameras usually leave out the
/// Huffman tables (the format fixes them), so the standard tables are inserted when
/// the frame has none.
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage> {
    let owned;
    let bytes = if has_huffman_tables(data)? {
        data
    } else {
        owned = with_default_huffman_tables(data);
        &owned
    };
    // A frame cut short on the bus still decodes, its missing rows grey: not a picture.
    if !stylecast::io::jpeg_end::jpeg_is_complete(bytes) {
        bail!(
            "MJPEG frame is cut short: no end-of-image marker ({} bytes)",
            data.len()
        );
    }
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .context("MJPEG frame does not decode")?;
    Ok(img.to_rgb8())
}

/// Walks the marker segments up to the start of scan and tells whether a DHT is among them.
fn has_huffman_tables(data: &[u8]) -> Result<bool> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        bail!(
            "MJPEG frame does not start with a JPEG SOI marker ({} bytes)",
            data.len()
        );
    }
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            bail!("MJPEG frame: no marker at byte {i}");
        }
        let marker = data[i + 1];
        match marker {
            0xFF => i += 1, // fill byte
            0xD0..=0xD7 | 0x01 => i += 2,
            0xC4 => return Ok(true),
            0xDA => return Ok(false),
            _ => i += 2 + u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize,
        }
    }
    bail!(
        "MJPEG frame ends before its image data ({} bytes)",
        data.len()
    )
}

/// The frame with the standard Huffman tables (JPEG Annex K.3, as MJPEG/OpenDML fixes
/// them) inserted right after SOI.
fn with_default_huffman_tables(data: &[u8]) -> Vec<u8> {
    let tables: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &LUMA_DC_BITS, &DC_VALUES),
        (0x10, &LUMA_AC_BITS, &LUMA_AC_VALUES),
        (0x01, &CHROMA_DC_BITS, &DC_VALUES),
        (0x11, &CHROMA_AC_BITS, &CHROMA_AC_VALUES),
    ];
    let body: usize = tables.iter().map(|(_, _, v)| 17 + v.len()).sum();
    let mut out = Vec::with_capacity(data.len() + body + 4);
    out.extend_from_slice(&data[..2]);
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&((body + 2) as u16).to_be_bytes());
    for (class_id, bits, values) in tables {
        out.push(class_id);
        out.extend_from_slice(bits);
        out.extend_from_slice(values);
    }
    out.extend_from_slice(&data[2..]);
    out
}

// JPEG Annex K.3: number of codes of each length 1..16, then the symbols.
const LUMA_DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const CHROMA_DC_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const LUMA_AC_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const LUMA_AC_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const CHROMA_AC_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const CHROMA_AC_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed by hand from the BT.601 limited-range equations above
    // (e.g. red: Y=81, U=90, V=240 -> R = (298*65 + 409*112 + 128) >> 8 = 255).
    #[test]
    fn yuv601_reference_colours() {
        assert_eq!(yuv601_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv601_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(yuv601_to_rgb(126, 128, 128), [128, 128, 128]);
        assert_eq!(yuv601_to_rgb(81, 90, 240), [255, 0, 0]);
        assert_eq!(yuv601_to_rgb(145, 54, 34), [0, 255, 1]);
        assert_eq!(yuv601_to_rgb(41, 240, 110), [0, 0, 255]);
        // Out-of-range ("super-black/white") inputs clamp instead of wrapping.
        assert_eq!(yuv601_to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(yuv601_to_rgb(255, 128, 128), [255, 255, 255]);
    }

    #[test]
    fn yuyv_frame_pairs_share_chroma() {
        // 4x2 frame with a 12-byte stride (4 padding bytes per row).
        #[rustfmt::skip]
        let data = [
            81, 90, 81, 240,   235, 128, 16, 128,   0, 0, 0, 0,
            41, 240, 126, 110, 145, 54, 145, 34,    9, 9, 9, 9,
        ];
        let img = yuyv_to_rgb(&data, 4, 2, 12).unwrap();
        let px = |x, y| img.get_pixel(x, y).0;
        assert_eq!(px(0, 0), [255, 0, 0]);
        assert_eq!(px(1, 0), [255, 0, 0]);
        assert_eq!(px(2, 0), [255, 255, 255]);
        assert_eq!(px(3, 0), [0, 0, 0]);
        assert_eq!(px(0, 1), [0, 0, 255]);
        // Y=126, U=240, V=110: c=32908; R=(32908-7362)>>8=99, G=(32908-11200+3744)>>8=99, B=(32908+57792)>>8=354->255
        assert_eq!(px(1, 1), [99, 99, 255]);
        assert_eq!(px(2, 1), [0, 255, 1]);
    }

    #[test]
    fn yuyv_rejects_short_buffers() {
        let err = yuyv_to_rgb(&[0u8; 10], 4, 2, 8).unwrap_err();
        assert!(format!("{err}").contains("too short"), "{err}");
    }

    #[test]
    fn rgb24_strips_row_padding() {
        let data = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        let img = rgb24_to_rgb(&data, 2, 2, 8).unwrap();
        assert_eq!(img.as_raw(), &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }

    fn jpeg(img: &RgbImage) -> Vec<u8> {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 100)
            .encode_image(img)
            .unwrap();
        buf
    }

    /// Removes every DHT segment, as a UVC camera's MJPEG frames have none.
    fn strip_dht(data: &[u8]) -> Vec<u8> {
        let mut out = data[..2].to_vec();
        let mut i = 2;
        while data[i + 1] != 0xDA {
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            if data[i + 1] != 0xC4 {
                out.extend_from_slice(&data[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        out.extend_from_slice(&data[i..]);
        out
    }

    #[test]
    fn mjpeg_decodes_flat_colours() {
        // Flat blocks survive JPEG almost exactly: only the DC coefficient is non-zero,
        // so the decoded value is the input up to colour-conversion rounding.
        for colour in [[128u8, 128, 128], [255, 0, 0], [0, 0, 255], [20, 200, 60]] {
            let img = RgbImage::from_pixel(16, 16, image::Rgb(colour));
            let out = mjpeg_to_rgb(&jpeg(&img)).unwrap();
            assert_eq!(out.dimensions(), (16, 16));
            for p in out.pixels() {
                for c in 0..3 {
                    assert!(
                        (p.0[c] as i32 - colour[c] as i32).abs() <= 3,
                        "{colour:?} decoded as {:?}",
                        p.0
                    );
                }
            }
        }
    }

    #[test]
    fn mjpeg_without_huffman_tables_decodes_like_the_full_jpeg() {
        let img = RgbImage::from_fn(32, 24, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 10) as u8, ((x + y) * 4) as u8])
        });
        let full = jpeg(&img);
        let stripped = strip_dht(&full);
        assert!(
            stripped.len() < full.len(),
            "the encoder wrote DHT segments"
        );
        assert!(!has_huffman_tables(&stripped).unwrap());
        assert!(image::load_from_memory_with_format(&stripped, image::ImageFormat::Jpeg).is_err());
        let a = mjpeg_to_rgb(&full).unwrap();
        let b = mjpeg_to_rgb(&stripped).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn mjpeg_cut_short_is_an_error() {
        let img = RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 7]));
        let full = strip_dht(&jpeg(&img));
        assert!(mjpeg_to_rgb(&full).is_ok());
        let cut = &full[..full.len() * 2 / 3];
        let err = mjpeg_to_rgb(cut).unwrap_err();
        assert!(format!("{err}").contains("cut short"), "{err}");
    }

    #[test]
    fn mjpeg_garbage_is_an_error_not_a_panic() {
        assert!(mjpeg_to_rgb(&[]).is_err());
        assert!(mjpeg_to_rgb(&[0xFF, 0xD8, 0xFF]).is_err());
        assert!(mjpeg_to_rgb(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 1, 2]).is_err());
        assert!(mjpeg_to_rgb(b"not a jpeg at all").is_err());
    }
}
