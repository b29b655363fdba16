// Running ffmpeg on the host.
import * as ffmpeg from 'transflow:template/ffmpeg@0.1.1';
import { host } from './errors';

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
}
