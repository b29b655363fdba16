// Test fixture, the twin of python/spawn-pair: step `pair` spawns two ffmpeg runs of the first
// video and joins them with `joinAll`. Field `fail`:
// - `none`: `wide.mp4` (320 wide) and `narrow.mp4` (160 wide), 2 s each, paced by `-re` so each
//   lasts 2 s, with field `marker` in their command lines (`{marker}-wide`, `{marker}-narrow`)
//   for the test to find them in /proc; then twice it spawns 8 runs, the most a step may hold,
//   and disposes of them, which the host allows only if `join` and dispose release handles.
// - `first`: the first run fails at once and the second would never end, so `joinAll` must
//   throw the first failure without waiting for the second.
import { Context, ORIGINAL, StepInfo, TemplateInfo, exportTemplate, joinAll } from '@transflow/template-sdk';

export const pipeline = exportTemplate({
  describe: () =>
    new TemplateInfo('spawn-pair-ts', 'Two ffmpeg runs at once in one step')
      .field('fail', 'none or first', 'none')
      .field('marker', 'a tag for the runs command lines', 'spawn-pair')
      .step(new StepInfo('pair', 'two sizes of the first video, made together').uses(ORIGINAL)),

  runStep(_step: string, ctx: Context) {
    const input = ctx.inputs()[0];
    if (ctx.fieldChoice('fail', 'none', ['none', 'first']) === 'first') {
      const failing = ctx.ffmpeg(['-i', input.path, '-map', '0:s', ctx.reserveOutput('none.mp4')]).spawn();
      const endless = ['-re', '-stream_loop', '-1', '-i', input.path, '-an', ctx.reserveOutput('endless.mp4')];
      joinAll([failing, ctx.ffmpeg(endless).spawn()]);
      return;
    }
    const marker = ctx.field('marker') ?? 'spawn-pair';
    const sizes: [string, number][] = [['wide', 320], ['narrow', 160]];
    const made = sizes.map(([name, width]) => {
      const out = ctx.reserveOutput(`${name}.mp4`);
      const tag = `comment=${marker}-${name}`;
      const args = ['-re', '-i', input.path, '-t', '2', '-an', '-vf', `scale=${width}:-2`, '-metadata', tag, out];
      return { out, run: ctx.ffmpeg(args).spawn() };
    });
    joinAll(made.map(({ run }) => run));
    for (const { out } of made) ctx.emit(out, input.originalId);
    for (let round = 0; round < 2; round++) {
      const held = Array.from({ length: 8 }, (_, i) =>
        ctx.ffmpeg(['-i', input.path, '-frames:v', '1', ctx.reserveOutput(`dropped_${round}_${i}.jpg`)]).spawn(),
      );
      for (const run of held) run[Symbol.dispose]();
    }
  },
});
