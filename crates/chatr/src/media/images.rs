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
/// Decompression-bomb guards: larger images are refused, not decoded.
const MAX_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

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

/// Decodes the image at `path` upright (EXIF orientation applied).
pub fn decode(path: &Path) -> Result<DynamicImage> {
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

/// An image message: the served image (metadata stripped) and its preview.
pub fn process_upload(path: &Path, is_gif: bool) -> Result<Processed> {
    let image = decode(path)?;
    // `thumbnail` scales small images up as well; a preview is never larger than its image.
    let preview = if image.width() > THUMBNAIL_PX || image.height() > THUMBNAIL_PX {
        image.thumbnail(THUMBNAIL_PX, THUMBNAIL_PX)
    } else {
        image.clone()
    };
    let thumbnail = encode(&preview, 80)?;
    // A GIF is served as uploaded: re-encoding would lose its animation, and
    // GIF carries no EXIF.
    let main = if is_gif {
        None
    } else {
        Some(encode(&image, 90)?)
    };
    Ok(Processed { main, thumbnail })
}

/// A profile picture: centre-cropped squares of 256 and 64 pixels.
pub fn avatars(path: &Path) -> Result<(Encoded, Encoded)> {
    let image = decode(path)?;
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
}
