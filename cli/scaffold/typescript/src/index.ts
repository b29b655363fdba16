// `{{name}}`: a JPEG poster frame from the middle of each video.
//
// Fields: `width` (16–3840, default 640; height keeps the aspect ratio).
import { Context, ORIGINAL, StepInfo, TemplateInfo, exportTemplate } from '@transflow/template-sdk';

export const pipeline = exportTemplate({
  describe: () =>
    new TemplateInfo('{{name}}', 'A JPEG poster frame from the middle of each video')
      .field('width', 'Poster width in pixels, 16 to 3840; height keeps the aspect ratio', '640')
      .step(new StepInfo('poster', 'the middle frame as a JPEG').uses(ORIGINAL)),

  runStep(_step: string, ctx: Context) {
    const width = ctx.fieldIn('width', 640, 16, 3840);
    for (const input of ctx.inputs()) {
      input.media();
      const middle = (input.duration() ?? 0) / 2;
      // Output names come from the input's stem: its name made safe for ffmpeg and the host.
      const out = ctx.reserveOutput(`${input.stem}.jpg`);
      ctx.ffmpeg(['-ss', middle.toFixed(3), '-i', input.path, '-vf', `scale=${width}:-2`, '-frames:v', '1', out]).run();
      ctx.emit(out, input.originalId);
    }
  },
});
