//! Image uploads: decode (which proves the file is an image), apply and drop
//! the EXIF orientation, re-encode without metadata, and make previews and
//! avatars. Blocking work: call from `spawn_blocking`.

use std::io::{BufReader, Cursor};
use std::path::Path;

use image::{
    DynamicImage, ImageDecoder, ImageReader, Limits,
    codecs::{jpeg::JpegEncoder, png::PngEncoder},
    imageops::FilterType,
};

use crate::error::{Error, Result};

pub const THUMBNAIL_PX: u32 = 320;
pub const AVATAR_PX: u32 = 256;
pub const AVATAR_SMALL_PX: u32 = 64;
/// Decompression-bomb guards, checked from the header before decoding: an
/// image of more pixels (or a longer side) is refused, not decoded. A
/// 16384² grayscale PNG is 255 KiB and would decode to 256 MiB, and to three
/// times that once converted for JPEG.
pub const MAX_PIXELS: u64 = 40_000_000;
const MAX_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;
/// The longest side an image is served at; larger ones are shrunk (with an
/// area-averaging filter, cheap at any size) before anything else is done.
pub const MAX_SERVED_SIDE: u32 = 2560;
/// Avatars are cropped from an image first shrunk to this.
const AVATAR_SOURCE_SIDE: u32 = 1024;

/// An encoded image ready to store.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub ext: &'static str,
}

/// What an image upload is served as.
pub struct Processed {
    /// `None` when the original bytes are served as they are (GIF, to keep animation).
    pub main: Option<Encoded>,
    pub thumbnail: Encoded,
}

fn not_an_image() -> Error {
    Error::invalid_field(
        "file",
        "the file is not a valid JPEG, PNG, GIF or WebP image",
    )
}

/// Decodes the image at `path` upright (EXIF orientation applied). A panic
/// inside a decoder is an image that is not valid, never a failed request.
pub fn decode(path: &Path) -> Result<DynamicImage> {
    std::panic::catch_unwind(|| decode_file(path)).unwrap_or_else(|_| Err(not_an_image()))
}

fn decode_file(path: &Path) -> Result<DynamicImage> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::internal(format!("reading an upload: {e}")))?;
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|_| not_an_image())?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| not_an_image())?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Error::invalid_field(
            "file",
            format!(
                "the image is {w}×{h} pixels; at most {} megapixels are accepted",
                MAX_PIXELS / 1_000_000
            ),
        ));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| not_an_image())?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(image)
}

/// Re-encodes `image`: PNG when it has transparency, JPEG otherwise. Nothing
/// of the original's metadata (EXIF, GPS, comments) survives.
pub fn encode(image: &DynamicImage, jpeg_quality: u8) -> Result<Encoded> {
    let mut bytes = Vec::new();
    let failed = |e: image::ImageError| Error::internal(format!("encoding an image: {e}"));
    if image.color().has_alpha() {
        image
            .write_with_encoder(PngEncoder::new(Cursor::new(&mut bytes)))
            .map_err(failed)?;
        Ok(Encoded {
            bytes,
            mime: "image/png",
            ext: "png",
        })
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        rgb.write_with_encoder(JpegEncoder::new_with_quality(
            Cursor::new(&mut bytes),
            jpeg_quality,
        ))
        .map_err(failed)?;
        Ok(Encoded {
            bytes,
            mime: "image/jpeg",
            ext: "jpg",
        })
    }
}

/// `image`, shrunk to fit `side` × `side` when larger (aspect kept).
fn fit(image: DynamicImage, side: u32) -> DynamicImage {
    if image.width() > side || image.height() > side {
        image.thumbnail(side, side)
    } else {
        image
    }
}

/// An image message: the served image (metadata stripped, at most
/// [`MAX_SERVED_SIDE`] on its longest side) and its preview, made from it.
pub fn process_upload(path: &Path, is_gif: bool) -> Result<Processed> {
    let decoded = decode(path)?;
    let shrunk = decoded.width() > MAX_SERVED_SIDE || decoded.height() > MAX_SERVED_SIDE;
    let image = fit(decoded, MAX_SERVED_SIDE);
    // `thumbnail` scales small images up as well; a preview is never larger than its image.
    let preview = if image.width() > THUMBNAIL_PX || image.height() > THUMBNAIL_PX {
        image.thumbnail(THUMBNAIL_PX, THUMBNAIL_PX)
    } else {
        image.clone()
    };
    let thumbnail = encode(&preview, 80)?;
    // A GIF is served as uploaded (re-encoding would lose its animation, and
    // GIF carries no EXIF), unless it had to be shrunk.
    let main = if is_gif && !shrunk {
        None
    } else {
        Some(encode(&image, 90)?)
    };
    Ok(Processed { main, thumbnail })
}

/// A profile picture: centre-cropped squares of 256 and 64 pixels, from the
/// image shrunk to [`AVATAR_SOURCE_SIDE`] first (Lanczos over a full-size
/// image took 32 s for a 16384² one).
pub fn avatars(path: &Path) -> Result<(Encoded, Encoded)> {
    let image = fit(decode(path)?, AVATAR_SOURCE_SIDE);
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let large = encode(
        &square.resize_exact(AVATAR_PX, AVATAR_PX, FilterType::Lanczos3),
        88,
    )?;
    let small = encode(
        &square.resize_exact(AVATAR_SMALL_PX, AVATAR_SMALL_PX, FilterType::Lanczos3),
        88,
    )?;
    Ok((large, small))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(dir: &Path, name: &str, width: u32, height: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]))
            .save(&path)
            .expect("test image written");
        path
    }

    /// The PNG chunk checksum (CRC-32, IEEE).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn size_of(encoded: &Encoded) -> (u32, u32) {
        let image = image::load_from_memory(&encoded.bytes).expect("encoded image decodes");
        (image.width(), image.height())
    }

    #[test]
    fn previews_shrink_large_images_and_never_enlarge_small_ones() {
        let dir = std::env::temp_dir().join(format!("chatr-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let large = process_upload(&png(&dir, "large.png", 1280, 640), false).expect("large");
        assert_eq!(size_of(&large.thumbnail), (THUMBNAIL_PX, THUMBNAIL_PX / 2));
        let small = process_upload(&png(&dir, "small.png", 64, 48), false).expect("small");
        assert_eq!(size_of(&small.thumbnail), (64, 48));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn large_images_are_served_shrunk_and_too_large_ones_refused_before_decoding() {
        let dir = std::env::temp_dir().join(format!("chatr-images-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let big = process_upload(&png(&dir, "big.png", 6000, 3000), false).expect("a 18 MP image");
        let served = big.main.as_ref().map(size_of);
        assert_eq!(served, Some((MAX_SERVED_SIDE, MAX_SERVED_SIDE / 2)));
        // A header that claims 10000 × 5000 (50 MP) is refused without decoding a pixel.
        let mut header = std::fs::read(png(&dir, "tiny.png", 1, 1)).expect("png");
        header[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        header[20..24].copy_from_slice(&5_000u32.to_be_bytes());
        let crc = crc32(&header[12..29]);
        header[29..33].copy_from_slice(&crc.to_be_bytes());
        let claimed = dir.join("claimed.png");
        std::fs::write(&claimed, &header).expect("write");
        let err = process_upload(&claimed, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("megapixels"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
