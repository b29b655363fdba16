//! MIME types from what ffprobe found, falling back to the file's first bytes and extension.
//! The extension alone is never trusted for media: a `.mp4` that ffprobe reads as PNG is PNG.

/// The MIME type of a file given its probed container format, first bytes and extension.
pub fn detect(format: Option<&str>, has_video: bool, head: &[u8], ext: &str) -> String {
    if let Some(mime) = format.and_then(|f| from_format(f, has_video)) {
        return mime.to_owned();
    }
    if let Some(mime) = from_magic(head) {
        return mime.to_owned();
    }
    from_extension(ext).unwrap_or("application/octet-stream").to_owned()
}

fn from_format(format: &str, has_video: bool) -> Option<&'static str> {
    let first = format.split(',').next()?;
    Some(match first {
        "mov" if format.contains("mp4") => {
            if has_video {
                "video/mp4"
            } else {
                "audio/mp4"
            }
        }
        "matroska" if format.contains("webm") => {
            if has_video {
                "video/webm"
            } else {
                "audio/webm"
            }
        }
        "avi" => "video/x-msvideo",
        "flv" => "video/x-flv",
        "mpegts" => "video/mp2t",
        "mpeg" => "video/mpeg",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        "gif" => "image/gif",
        "png_pipe" => "image/png",
        "jpeg_pipe" | "mjpeg" => "image/jpeg",
        "webp_pipe" => "image/webp",
        "bmp_pipe" => "image/bmp",
        "tiff_pipe" => "image/tiff",
        "hls" => "application/vnd.apple.mpegurl",
        _ => return None,
    })
}

fn from_magic(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"#EXTM3U", "application/vnd.apple.mpegurl"),
        (b"%PDF", "application/pdf"),
    ];
    SIGNATURES.iter().find(|(sig, _)| head.starts_with(sig)).map(|(_, mime)| *mime)
}

fn from_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ts" => "video/mp2t",
        "m3u8" => "application/vnd.apple.mpegurl",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "txt" => "text/plain",
        "json" => "application/json",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn probed_format_wins_over_extension() {
        assert_eq!(detect(Some("png_pipe"), true, b"", "mp4"), "image/png");
        assert_eq!(detect(Some("mov,mp4,m4a,3gp,3g2,mj2"), false, b"", "m4a"), "audio/mp4");
        assert_eq!(detect(Some("matroska,webm"), true, b"", "webm"), "video/webm");
    }

    #[test]
    fn falls_back_to_magic_then_extension() {
        assert_eq!(detect(None, false, b"#EXTM3U\n", "m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(detect(None, false, b"hello", "txt"), "text/plain");
        assert_eq!(detect(None, false, b"hello", "bin"), "application/octet-stream");
    }
}
