//! The host side of the world's imports, one module per capability. Each host call charges the
//! step's host-call budget through [`crate::job::JobState::charge`] first.

mod ffmpeg;
mod log;
mod status;
mod workspace;

use crate::bindings::{GuestError, WitMediaMeta, transflow::template::types};
use transflow_ffmpeg::MediaMeta;

impl types::Host for crate::job::JobState {}

impl From<&MediaMeta> for WitMediaMeta {
    fn from(meta: &MediaMeta) -> Self {
        WitMediaMeta {
            format: meta.format.clone(),
            width: meta.width,
            height: meta.height,
            duration: meta.duration,
            framerate: meta.framerate,
            video_codec: meta.video_codec.clone(),
            audio_codec: meta.audio_codec.clone(),
            bitrate: meta.bitrate,
            video_bitrate: meta.video_bitrate,
            audio_bitrate: meta.audio_bitrate,
            sample_rate: meta.sample_rate,
            channels: meta.channels,
        }
    }
}

impl From<transflow_ffmpeg::policy::Refusal> for GuestError {
    fn from(refusal: transflow_ffmpeg::policy::Refusal) -> Self {
        GuestError::ArgumentRefused(types::RefusedArgument {
            argument: refusal.argument,
            reason: refusal.reason,
        })
    }
}

/// Cuts guest-supplied text to `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
