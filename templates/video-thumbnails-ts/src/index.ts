// `video-thumbnails-ts`: `count` JPEG thumbnails of each video, one from the middle of each of
// `count` equal slices of its duration; the TypeScript twin of `video-thumbnails`, making the
// same files from the same input and fields.
//
// Fields: `count` (1–100, default 8), `width` (16–3840, default 320; height keeps the aspect).
// Thumbnail `i` (from 1) is the frame on screen at `(2i − 1) / (2 · count)` of the probed
// duration. Every video gives exactly `count` files, all from one ffmpeg run: a clip with fewer
// frames than `count` repeats frames, and slices after the end of a video stream shorter than its
// container show its last frame. An input without a video stream, or whose container records no
// duration, fails with `INPUT_INVALID`.
//
// Each video `clip.mp4` yields `clip_01.jpg`, `clip_02.jpg`…, named after the input's safe stem
// (`50% off.mp4` → `50_off_01.jpg`).
import { Context, ORIGINAL, StepInfo, TemplateInfo, exportTemplate } from '@transflow/template-sdk';

export const pipeline = exportTemplate({
  describe: () =>
    new TemplateInfo(
      'video-thumbnails-ts',
      'JPEG thumbnails of each video, one from the middle of each of count equal slices',
    )
      .field('count', 'How many thumbnails per video, 1 to 100; always exactly this many', '8')
      .field('width', 'Thumbnail width in pixels, 16 to 3840; height keeps the aspect ratio', '320')
      .step(
        new StepInfo('thumbnails', 'the frames on screen at the middles of count equal slices of the video')
          .uses(ORIGINAL),
      ),

  runStep(_step: string, ctx: Context) {
    const count = ctx.fieldIn('count', 8, 1, 100);
    const width = ctx.fieldIn('width', 320, 16, 3840);
    const inputs = ctx.inputs();
    inputs.forEach((input, index) => {
      input.media();
      if (!input.hasVideo()) {
        throw input.invalid('it has no video stream to take thumbnails from');
      }
      const duration = input.duration();
      if (duration === undefined || duration <= 0) {
        throw input.invalid(
          'its container records no duration (a still image, a raw stream or a live recording), so ' +
            'thumbnails cannot be spread over it; remux it into a file that records one, e.g. ' +
            '`ffmpeg -i in.webm -c copy out.mkv`',
        );
      }
      const out = ctx.reserveOutput(`${input.stem}_%02d.jpg`);
      const share = 1 / inputs.length;
      const filter = middlesOfSlices(duration, count, width);
      ctx
        .ffmpeg(['-i', input.path, '-vf', filter, '-frames:v', String(count), '-q:v', '3', out])
        .progress(index * share, (index + 1) * share)
        .run();
      ctx.emitPending(input.originalId);
    });
  },
});

/**
 * The filter chain that picks, in one decoding pass, the frame on screen at the middle of each of
 * `count` equal slices of `duration` seconds and scales it to `width`; `middles_of_slices` in the
 * Rust twin explains each filter. Integer milliseconds keep the arguments exact and the same as
 * the Rust twin's.
 */
function middlesOfSlices(duration: number, count: number, width: number): string {
  const millis = Math.max(1, Math.round(duration * 1000));
  const halfSlice = `${millis}/${2000 * count}`;
  const rate = `${1000 * count}/${millis}`;
  return (
    `tpad=stop_mode=clone:stop_duration=${millis}ms,setpts=PTS-STARTPTS-${halfSlice}/TB,` +
    `fps=fps=${rate}:start_time=0:round=up,scale=${width}:-2`
  );
}
