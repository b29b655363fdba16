// `video-thumbnails-ts`: N JPEG thumbnails taken at even intervals of each video; the TypeScript
// twin of `video-thumbnails`, making the same files from the same input and fields.
//
// Fields: `count` (1–100, default 8), `width` (16–3840, default 320; height keeps the aspect).
// Each video `clip.mp4` yields `clip_01.jpg`, `clip_02.jpg`…, named after the input's safe stem
// (`50% off.mp4` → `50_off_01.jpg`).
import { Context, ORIGINAL, StepError, StepInfo, TemplateInfo, exportTemplate } from '@transflow/template-sdk';

export const pipeline = exportTemplate({
  describe: () =>
    new TemplateInfo('video-thumbnails-ts', 'JPEG thumbnails at even intervals of each video')
      .field('count', 'How many thumbnails per video, 1 to 100', '8')
      .field('width', 'Thumbnail width in pixels, 16 to 3840; height keeps the aspect ratio', '320')
      .step(new StepInfo('thumbnails', 'count JPEG frames spread evenly over the video').uses(ORIGINAL)),

  runStep(_step: string, ctx: Context) {
    const count = ctx.fieldIn('count', 8, 1, 100);
    const width = ctx.fieldIn('width', 320, 16, 3840);
    const inputs = ctx.inputs();
    inputs.forEach((input, index) => {
      input.media();
      const duration = input.duration();
      if (duration === undefined || duration <= 0) {
        throw StepError.failed(`${input.name} has no duration: is it a video?`);
      }
      // One frame from the middle of each of `count` equal slices of the video.
      const interval = duration / count;
      const out = ctx.reserveOutput(`${input.stem}_%02d.jpg`);
      const share = 1 / inputs.length;
      ctx
        .ffmpeg([
          '-ss',
          (interval / 2).toFixed(6),
          '-i',
          input.path,
          '-vf',
          `fps=1/${interval.toFixed(6)},scale=${width}:-2`,
          '-frames:v',
          String(count),
          '-q:v',
          '3',
          out,
        ])
        .progress(index * share, (index + 1) * share)
        .run();
      ctx.emitPending(input.originalId);
    });
  },
});
