//! Big images in overlapping tiles, so that memory is bounded by the tile, not the photo.
//!
//! The network is fully convolutional, so a tile with enough context around it gives
//! nearly the pixels the whole image would. Two things differ: pixels near a tile's edge
//! lack context, and instance norm takes its statistics per tile instead of over the whole
//! picture. Tiles therefore overlap, and each is blended over its predecessors with a
//! weight that is 0 at its own edge and rises to 1 across the middle of the overlap:
//! no seam, and no tile's edge pixels in the result. With large tiles the per-tile
//! statistics stay close to the whole image's; a tile of sky next to one of foliage can
//! still come out a shade apart, which the blend turns into a gradual change.

use image::RgbImage;

/// A tile: its top-left corner and size in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Start positions of tiles of `tile` pixels along `len`, evenly spaced so that
/// neighbours overlap by at least `overlap` and the last one ends at `len`.
fn starts(len: u32, tile: u32, overlap: u32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let overlap = overlap.min(tile / 2);
    let n = (len - overlap).div_ceil(tile - overlap) as u64;
    let span = (len - tile) as u64;
    (0..n)
        .map(|i| ((i * span + (n - 1) / 2) / (n - 1)) as u32)
        .collect()
}

/// The tiles covering a `w` x `h` image, row by row, each at most `side` x `side`.
pub fn grid(w: u32, h: u32, side: u32, overlap: u32) -> Vec<Tile> {
    let side = side.max(1);
    let (tw, th) = (w.min(side), h.min(side));
    let xs = starts(w, tw, overlap);
    starts(h, th, overlap)
        .into_iter()
        .flat_map(|y| xs.iter().map(move |&x| Tile { x, y, w: tw, h: th }))
        .collect()
}

/// Weight of a tile's pixel at `d` pixels from its leading edge, where the overlap with
/// the tile before it is `overlap` pixels (0: none): 0 over the first quarter of the
/// overlap, a smooth rise across the middle half, 1 after.
fn ramp(d: u32, overlap: u32) -> f32 {
    if overlap == 0 {
        return 1.0;
    }
    let margin = overlap as f32 / 4.0;
    let t = ((d as f32 + 0.5 - margin) / (overlap as f32 - 2.0 * margin)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Writes `pixels` (the result for `tile`) into `out`, blended over what tiles written
/// before it left there. `prev_x` / `prev_y`: how far this tile overlaps the tile to its
/// left / above (0 when it has none).
pub fn blend_into(out: &mut RgbImage, pixels: &RgbImage, tile: Tile, prev_x: u32, prev_y: u32) {
    for ty in 0..tile.h {
        let wy = ramp(ty, prev_y);
        for tx in 0..tile.w {
            let w = wy * ramp(tx, prev_x);
            let new = pixels.get_pixel(tx, ty).0;
            let old = &mut out.get_pixel_mut(tile.x + tx, tile.y + ty).0;
            for c in 0..3 {
                old[c] = (w * new[c] as f32 + (1.0 - w) * old[c] as f32).round() as u8;
            }
        }
    }
}

/// Runs `f` on every tile of `img` and puts the results back together; `f` must return
/// an image of its tile's size. Each row of tiles is blended into a strip first, then the
/// strips into the picture, so every pixel's weights sum to one (blending tile after tile
/// in both directions at once would keep a trace of a corner tile's edge).
pub fn map_tiles<E>(
    img: &RgbImage,
    side: u32,
    overlap: u32,
    mut f: impl FnMut(&RgbImage) -> Result<RgbImage, E>,
) -> Result<RgbImage, E> {
    let (w, h) = img.dimensions();
    let tiles = grid(w, h, side, overlap);
    let mut out = RgbImage::new(w, h);
    let mut prev_row: Option<Tile> = None;
    for row in tiles.chunk_by(|a, b| a.y == b.y) {
        let (y, th) = (row[0].y, row[0].h);
        let mut strip = RgbImage::new(w, th);
        let mut prev: Option<Tile> = None;
        for &t in row {
            let crop = image::imageops::crop_imm(img, t.x, t.y, t.w, t.h).to_image();
            let result = f(&crop)?;
            let prev_x = prev.map_or(0, |p| p.x + p.w - t.x);
            blend_into(&mut strip, &result, Tile { y: 0, ..t }, prev_x, 0);
            prev = Some(t);
        }
        let prev_y = prev_row.map_or(0, |p| p.y + p.h - y);
        blend_into(&mut out, &strip, Tile { x: 0, y, w, h: th }, 0, prev_y);
        prev_row = Some(row[0]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_image_with_the_overlap_asked_for() {
        for (len, tile, overlap) in [(100, 100, 16), (101, 40, 16), (1000, 256, 64), (7, 3, 1)] {
            let s = starts(len, tile, overlap);
            assert_eq!(s[0], 0);
            assert_eq!(s.last().unwrap() + tile.min(len), len.max(tile.min(len)));
            for p in s.windows(2) {
                assert!(
                    p[0] + tile >= p[1] + overlap.min(tile / 2),
                    "{len} {tile}: {s:?}"
                );
                assert!(p[1] > p[0]);
            }
        }
        let g = grid(300, 100, 128, 32);
        assert_eq!(g.len(), 3);
        assert!(g.iter().all(|t| t.h == 100 && t.w == 128));
    }

    #[test]
    fn blending_keeps_a_uniform_picture_uniform_and_hides_tile_edges() {
        let img = RgbImage::from_fn(150, 90, |x, y| image::Rgb([x as u8, y as u8, 200]));
        // Tiles that return their input: the result is the input, everywhere.
        let same = map_tiles::<()>(&img, 64, 24, |t| Ok(t.clone())).unwrap();
        let worst = same
            .as_raw()
            .iter()
            .zip(img.as_raw())
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max();
        assert!(worst <= Some(1), "{worst:?}");
        // Tiles whose outer 4 pixels are garbage: none of it reaches the result, except
        // along the image's own edges, which no other tile covers.
        let out = map_tiles::<()>(&img, 64, 24, |t| {
            let (w, h) = t.dimensions();
            Ok(RgbImage::from_fn(w, h, |x, y| {
                if x < 4 || y < 4 || x + 4 >= w || y + 4 >= h {
                    image::Rgb([0, 255, 0])
                } else {
                    *t.get_pixel(x, y)
                }
            }))
        })
        .unwrap();
        let (w, h) = img.dimensions();
        for y in 4..h - 4 {
            for x in 4..w - 4 {
                let (a, b) = (out.get_pixel(x, y).0, img.get_pixel(x, y).0);
                let d = (0..3).map(|c| (a[c] as i32 - b[c] as i32).abs()).max();
                assert!(d <= Some(1), "({x}, {y}): {a:?} instead of {b:?}");
            }
        }
    }
}
