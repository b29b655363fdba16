// Test fixture: `poster` makes one frame, then `explode` fails the way the field `fail` says:
// `throw` (an Error deep in a helper), `host` (an ffmpeg argument the host refuses), `async`
// (a step written as an async function), `value` (a thrown string), `loop` (never returns),
// `memory` (allocates without end).
import { Context, ORIGINAL, StepInfo, TemplateInfo, exportTemplate } from '@transflow/template-sdk';

function countFrames(total: number): number {
  if (total >= 0) throw new Error(`the frame counter went wrong at ${total}`);
  return total;
}

export const pipeline = exportTemplate({
  describe: () =>
    new TemplateInfo('step-errors', 'Fails its second step on purpose')
      .field('fail', 'throw, host, async, value, loop or memory', 'throw')
      .step(new StepInfo('poster', 'one frame').uses(ORIGINAL))
      .step(new StepInfo('explode', 'fails').uses('poster')),

  runStep(step: string, ctx: Context) {
    if (step === 'poster') {
      const input = ctx.inputs()[0];
      const out = ctx.reserveOutput(`${input.basename}.jpg`);
      ctx.ffmpeg(['-i', input.path, '-frames:v', '1', out]).run();
      ctx.emit(out, input.originalId);
      return;
    }
    const hog: number[][] = [];
    switch (ctx.fieldChoice('fail', 'throw', ['throw', 'host', 'async', 'value', 'loop', 'memory'])) {
      case 'throw':
        countFrames(ctx.inputs().length);
        break;
      case 'host':
        ctx.ffmpeg(['-i', '/etc/passwd', ctx.reserveOutput('x.jpg')]).run();
        break;
      case 'async':
        return (async () => ctx.info('too late'))() as unknown as void;
      case 'value':
        throw 'a plain string';
      case 'loop':
        for (;;) hog.length = 0;
      case 'memory':
        for (;;) hog.push(new Array(1 << 20).fill(hog.length));
    }
  },
});
