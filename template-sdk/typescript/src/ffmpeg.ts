// Running ffmpeg on the host.
import * as ffmpeg from 'transflow:template/ffmpeg@0.1.1';
import { StepError, host } from './errors';

/**
 * `Symbol.dispose`, or the registered symbol the generated bindings key their `dispose` on where
 * the engine has no `Symbol.dispose` yet, so disposing here reaches the host's handle either way.
 */
const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('dispose');

/** An ffmpeg command being built. The host validates every argument before it starts ffmpeg. */
export class FfmpegRun {
  private readonly options: ffmpeg.RunOptions = { progressStart: 0, progressEnd: 1 };

  constructor(private readonly args: readonly string[]) {}

  /** Maps this run's progress onto `[start, end]` of the step (default: the whole step). */
  progress(start: number, end: number): this {
    this.options.progressStart = start;
    this.options.progressEnd = end;
    return this;
  }

  /** The expected output duration in seconds, when it differs from the first input's. */
  duration(seconds: number): this {
    this.options.duration = seconds;
    return this;
  }

  /** Runs ffmpeg and waits for it; a failure throws a `StepError` with the tool's stderr tail. */
  run(): void {
    host(() => ffmpeg.run([...this.args], { ...this.options }));
  }

  /**
   * Starts ffmpeg and returns at once, so the step can start more runs (or emit, or probe) while
   * this one goes on; `SpawnedRun.join` waits for it. A refused argument or an unusable input
   * throws here, before anything starts. The host bounds how many runs a step holds at once (8
   * by default): join runs before spawning more, e.g. a few inputs at a time.
   */
  spawn(): SpawnedRun {
    return new SpawnedRun(host(() => ffmpeg.spawn([...this.args], { ...this.options })));
  }
}

/**
 * An ffmpeg run started by `FfmpegRun.spawn`. Join it, or dispose of it (`run[Symbol.dispose]()`
 * or a `using` declaration) to kill it unjoined; the end of the step kills it too. JavaScript's
 * garbage collector cannot be relied on to release a handle in time, so both `join` and dispose
 * release it at once, and the step can spawn again.
 */
export class SpawnedRun implements Disposable {
  private handle?: ffmpeg.ToolRun;

  /** Wraps a handle from `ffmpeg.spawn`; `FfmpegRun.spawn` makes these. */
  constructor(handle: ffmpeg.ToolRun) {
    this.handle = handle;
  }

  /**
   * Waits for the run to end: the outcome `run` would have had, so a failure throws a
   * `StepError` with the tool's stderr tail. A run joins once.
   */
  join(): void {
    const handle = this.handle;
    if (handle === undefined) throw StepError.failed('this ffmpeg run was already joined or disposed of');
    this.handle = undefined;
    try {
      host(() => handle.wait());
    } finally {
      handle[dispose]();
    }
  }

  /** Kills the run if it is still going and releases its handle; nothing once joined. */
  [dispose](): void {
    const handle = this.handle;
    this.handle = undefined;
    handle?.[dispose]();
  }
}

/**
 * Joins every run in order and throws the first failure. The runs after a failed one are disposed
 * of unjoined, which kills them: the step is failing, so their work would be wasted.
 */
export function joinAll(runs: Iterable<SpawnedRun>): void {
  const all = [...runs];
  let next = 0;
  try {
    while (next < all.length) all[next++].join();
  } finally {
    for (const unjoined of all.slice(next)) unjoined[dispose]();
  }
}
