/**
 * Typed errors for everything a user can get wrong. Each carries the exit
 * code the CLI maps it to and a message that says what was wrong and what
 * to do about it.
 */
export class SglError extends Error {
  readonly exitCode: number = 1;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A model directory that is missing, incomplete, or has a graph the engine cannot drive. */
export class ModelError extends SglError {}

/** A device or execution provider that cannot be used. */
export class DeviceError extends SglError {}

/**
 * A generate request that is invalid: `param` names the offending field as
 * the engine calls it, `wireParam` as clients send it (the message uses that).
 */
export class InvalidRequestError extends SglError {
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string = 'invalid_request',
    readonly wireParam: string | null = param,
  ) {
    super(message);
  }
}

/** The engine was shut down or its worker died. */
export class EngineClosedError extends SglError {}

/** onnxruntime failed while running a batch. */
export class InferenceError extends SglError {}

/** A dataset or workload file sgl cannot read: names the file, where, and what was expected. */
export class WorkloadError extends SglError {
  constructor(file: string, where: string | null, message: string) {
    super(`${file}${where ? `:${where}` : ''}: ${message}`);
  }
}

/** A trace file that is not one sgl wrote, or is damaged: names the file, the line and what was expected. */
export class TraceFileError extends SglError {}
