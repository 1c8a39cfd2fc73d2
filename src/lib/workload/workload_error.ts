import { SglError } from '../errors.js';

/** A dataset file sgl cannot read: names the file, where, and what was expected. */
export class WorkloadError extends SglError {
  constructor(file: string, where: string | null, message: string) {
    super(`${file}${where ? `:${where}` : ''}: ${message}`);
  }
}
