import { SglError } from '../errors.js';
import { readInputFile } from '../input_file.js';

/** Prompts from a text file, one per line; blank lines are skipped. */
export function readPromptFile(path: string): string[] {
  let text: string;
  try {
    text = readInputFile(path);
  } catch (err) {
    throw new SglError(`Cannot read the prompts file ${path}: ${(err as Error).message}. Pass --prompts a text file with one prompt per line.`);
  }
  const prompts = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (prompts.length === 0) throw new SglError(`The prompts file ${path} holds no prompts; write one prompt per line.`);
  return prompts;
}
