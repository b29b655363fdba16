// The step context: inputs, outputs, fields, progress and logging for the step being run.
import * as ffmpeg from 'transflow:template/ffmpeg@0.1.1';
import * as log from 'transflow:template/log@0.1.1';
import * as status from 'transflow:template/status@0.1.1';
import type * as types from 'transflow:template/types@0.1.1';
import * as workspace from 'transflow:template/workspace@0.1.1';
import { StepError, host } from './errors';
import { FfmpegRun } from './ffmpeg';
import { safeStem } from './stem';

/** What ffprobe says about a media file. */
export type MediaMeta = types.MediaMeta;
/** A result recorded by `emit`. */
export type EmittedFile = types.EmittedFile;
/** Severity of a log line. */
export type LogLevel = log.Level;

/** A file the current step reads: an upload or a result of a step it uses. */
export class Input implements types.InputFile {
  readonly id: string;
  /** Workspace-relative path to put in ffmpeg arguments. */
  readonly path: string;
  readonly name: string;
  readonly basename: string;
  readonly ext: string;
  readonly mime: string;
  readonly size: bigint;
  readonly fromStep: string;
  readonly originalId: string;
  readonly meta?: MediaMeta;
  /**
   * The stem to build this input's output names from: its `basename` made safe for the host and
   * ffmpeg (`50% off.mp4` → `50_off`, `concat:x.mp4` → `concat_x`, `vidéo 1.mov` → `video_1`).
   * Use it, not `name` or `basename`, in every name given to `reserveOutput`:
   * ``ctx.reserveOutput(`${input.stem}_%02d.jpg`)``. ASCII letters, digits, `.`, `-` and `_` only,
   * at most `STEM_MAX` bytes, never empty; the same name always gives the same stem, the same as
   * the Rust and Python SDKs give. See `safeStem`.
   */
  readonly stem: string;

  constructor(file: types.InputFile) {
    this.id = file.id;
    this.path = file.path;
    this.name = file.name;
    this.basename = file.basename;
    this.ext = file.ext;
    this.mime = file.mime;
    this.size = file.size;
    this.fromStep = file.fromStep;
    this.originalId = file.originalId;
    this.meta = file.meta;
    this.stem = safeStem(file.basename);
  }

  /**
   * The probed metadata, or an `INPUT_INVALID` error naming this input when ffprobe could not
   * read it (corrupt, empty or not media): call it first when a step only makes sense on media.
   */
  media(): MediaMeta {
    if (this.meta) return this.meta;
    throw this.invalid('ffprobe could not read it as media (corrupt, empty or not a media file)');
  }

  /**
   * An `INPUT_INVALID` error naming this input, for media the step cannot use (no video stream,
   * no duration…): the user must change the file, not retry. `reason` says why.
   */
  invalid(reason: string): StepError {
    return StepError.host({ tag: 'bad-input', val: { input: this.name, reason } });
  }

  /** Duration in seconds, when the input is timed media. */
  duration(): number | undefined {
    return this.meta?.duration;
  }

  /** `[width, height]` of the first video stream, when there is one. */
  dimensions(): [number, number] | undefined {
    const { width, height } = this.meta ?? {};
    return width !== undefined && height !== undefined ? [width, height] : undefined;
  }

  /** Whether the input has an audio stream. */
  hasAudio(): boolean {
    return this.meta?.audioCodec !== undefined;
  }

  /** Whether the input has a video (or image) stream. */
  hasVideo(): boolean {
    return this.meta?.videoCodec !== undefined;
  }
}

/** The step being run. Every method calls the host; none of them moves media bytes. */
export class Context {
  constructor(
    /** The name of the step being run. */
    readonly step: string,
  ) {}

  /** The step's inputs: uploads for `:original`, results of the steps it uses. */
  inputs(): Input[] {
    return workspace.inputs().map((file) => new Input(file));
  }

  /**
   * Reserves an output and returns the path to give ffmpeg. `name` may hold sub-directories and
   * ffmpeg patterns such as `thumb_%02d.jpg`. Build it from `input.stem`, never from an input's
   * raw `name` or `basename`.
   */
  reserveOutput(name: string): string {
    return host(() => workspace.reserveOutput(name));
  }

  /** Records a file this step wrote as a result, derived from upload `originalId` (by default the first input's). */
  emit(path: string, originalId?: string): EmittedFile {
    return host(() => workspace.emit(path, originalId));
  }

  /** Emits every file this step wrote and has not emitted yet, in name order. */
  emitPending(originalId?: string): EmittedFile[] {
    return host(() => workspace.pendingOutputs()).map((path) => this.emit(path, originalId));
  }

  /** Starts an ffmpeg command; add options with `progress`/`duration`, then `run` it. */
  ffmpeg(args: readonly string[]): FfmpegRun {
    return new FfmpegRun(args);
  }

  /** Probes a workspace file with ffprobe. */
  probe(path: string): MediaMeta {
    return host(() => ffmpeg.probe(path));
  }

  /** ffprobe's full JSON (`-show_format -show_streams`) for a workspace file. */
  probeJson(path: string): string {
    return host(() => ffmpeg.probeJson(path));
  }

  /** Reports how much of this step is done (0.0–1.0). */
  progress(fraction: number, message?: string): void {
    status.progress(fraction, message);
  }

  /** Writes a log line kept with the assembly. */
  log(level: LogLevel, message: string): void {
    log.write(level, message);
  }

  /** Writes an info log line. */
  info(message: string): void {
    this.log('info', message);
  }

  /** Writes a warning log line. */
  warn(message: string): void {
    this.log('warn', message);
  }

  /** The raw value of a user field. */
  field(name: string): string | undefined {
    return workspace.fields().find(([key]) => key === name)?.[1];
  }

  /**
   * A number field from `min` to `max`, or `defaultValue` when absent. When the default and both
   * bounds are integers, only an integer is accepted.
   */
  fieldIn(name: string, defaultValue: number, min: number, max: number): number {
    const raw = this.field(name);
    if (raw === undefined) return defaultValue;
    const integer = [defaultValue, min, max].every(Number.isInteger);
    const text = raw.trim();
    const syntax = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
    const value = Number(text);
    if (syntax.test(text) && value >= min && value <= max) return value;
    throw StepError.invalidField(name, raw, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }

  /** One of `choices` (case-insensitive, returned as listed), or `defaultValue` when absent. */
  fieldChoice(name: string, defaultValue: string, choices: readonly string[]): string {
    const raw = this.field(name);
    if (raw === undefined) return defaultValue;
    const wanted = raw.trim().toLowerCase();
    const choice = choices.find((c) => c.toLowerCase() === wanted);
    if (choice !== undefined) return choice;
    throw StepError.invalidField(name, raw, `one of ${choices.join(', ')}`);
  }

  /** A yes/no field (`true`/`false`, `yes`/`no`, `1`/`0`, `on`/`off`), or `defaultValue` when absent. */
  fieldBool(name: string, defaultValue: boolean): boolean {
    const raw = this.field(name);
    if (raw === undefined) return defaultValue;
    switch (raw.trim().toLowerCase()) {
      case 'true':
      case 'yes':
      case '1':
      case 'on':
        return true;
      case 'false':
      case 'no':
      case '0':
      case 'off':
        return false;
      default:
        throw StepError.invalidField(name, raw, 'true or false');
    }
  }
}
