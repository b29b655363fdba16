declare module 'transflow:template/types@0.1.1' {
  /**
   * What ffprobe says about a media file. Every field is optional: an image has no
   * duration, an audio file has no width, a corrupt file has nothing.
   */
  export interface MediaMeta {
    /**
     * Container format as ffprobe names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
     */
    format?: string,
    /**
     * Width in pixels of the first video stream.
     */
    width?: number,
    /**
     * Height in pixels of the first video stream.
     */
    height?: number,
    /**
     * Duration in seconds.
     */
    duration?: number,
    /**
     * Frames per second of the first video stream.
     */
    framerate?: number,
    /**
     * Codec of the first video stream, e.g. `h264`.
     */
    videoCodec?: string,
    /**
     * Codec of the first audio stream, e.g. `aac`.
     */
    audioCodec?: string,
    /**
     * Overall bit rate in bits per second.
     */
    bitrate?: bigint,
    /**
     * Bit rate of the first video stream in bits per second.
     */
    videoBitrate?: bigint,
    /**
     * Bit rate of the first audio stream in bits per second.
     */
    audioBitrate?: bigint,
    /**
     * Sample rate of the first audio stream in Hz.
     */
    sampleRate?: number,
    /**
     * Channel count of the first audio stream.
     */
    channels?: number,
  }
  /**
   * A file a step may read: an upload (`from-step` is `:original`) or a result of an
   * earlier step that this step `use`s.
   */
  export interface InputFile {
    /**
     * Upload id, or the id of the result that produced this file.
     */
    id: string,
    /**
     * Workspace-relative path to put in ffmpeg arguments, e.g. `in/3f2a…/clip.mp4`.
     */
    path: string,
    /**
     * File name as uploaded or emitted, e.g. `clip.mp4`.
     */
    name: string,
    /**
     * Name without its extension, e.g. `clip`.
     */
    basename: string,
    /**
     * Extension without the dot, lower case, e.g. `mp4`.
     */
    ext: string,
    /**
     * MIME type the host detected from the content, e.g. `video/mp4`.
     */
    mime: string,
    /**
     * Size in bytes.
     */
    size: bigint,
    /**
     * The step that produced this file, or `:original` for uploads.
     */
    fromStep: string,
    /**
     * Id of the upload this file derives from.
     */
    originalId: string,
    /**
     * What ffprobe found; `none` when the file is not readable media.
     */
    meta?: MediaMeta,
  }
  /**
   * A result recorded by `workspace.emit`.
   */
  export interface EmittedFile {
    /**
     * Result id, unique within the assembly.
     */
    id: string,
    /**
     * File name, e.g. `thumb_01.jpg`.
     */
    name: string,
    /**
     * Size in bytes.
     */
    size: bigint,
    /**
     * MIME type detected from the content.
     */
    mime: string,
    /**
     * What ffprobe found in the output.
     */
    meta?: MediaMeta,
  }
  /**
   * A tool (ffmpeg or ffprobe) ran and failed.
   */
  export interface ToolFailure {
    /**
     * `ffmpeg` or `ffprobe`.
     */
    tool: string,
    /**
     * Exit code; `none` when the host killed it (time or size limit) or it died by signal.
     */
    exitCode?: number,
    /**
     * The last lines the tool wrote to stderr, host paths removed.
     */
    stderrTail: string,
    /**
     * The input the failure is attributed to, when the host can tell.
     */
    input?: string,
  }
  /**
   * An argument the host refused before starting any tool.
   */
  export interface RefusedArgument {
    /**
     * The argument as given.
     */
    argument: string,
    /**
     * Why it was refused, e.g. `absolute paths are not allowed`.
     */
    reason: string,
  }
  /**
   * An input the host will not feed to a tool.
   */
  export interface BadInput {
    /**
     * The input's file name.
     */
    input: string,
    /**
     * What is wrong with it, e.g. `empty file` or `not a media file`.
     */
    reason: string,
  }
  /**
   * Why a host call failed. Each case carries what a user needs to act on it.
   */
  export type Error = ErrorToolFailed | ErrorArgumentRefused | ErrorBadInput | ErrorNotFound | ErrorLimitExceeded | ErrorInvalidRequest;
  /**
   * A tool ran and failed.
   */
  export interface ErrorToolFailed {
    tag: 'tool-failed',
    val: ToolFailure,
  }
  /**
   * The argument policy refused an argument; nothing was started.
   */
  export interface ErrorArgumentRefused {
    tag: 'argument-refused',
    val: RefusedArgument,
  }
  /**
   * An input is empty, corrupt or not media.
   */
  export interface ErrorBadInput {
    tag: 'bad-input',
    val: BadInput,
  }
  /**
   * A path or name the template gave does not exist or is not its to use.
   */
  export interface ErrorNotFound {
    tag: 'not-found',
    val: string,
  }
  /**
   * A per-job limit was reached (time, output size, output count).
   */
  export interface ErrorLimitExceeded {
    tag: 'limit-exceeded',
    val: string,
  }
  /**
   * The request itself is malformed, e.g. an output name with `/..`.
   */
  export interface ErrorInvalidRequest {
    tag: 'invalid-request',
    val: string,
  }
}
