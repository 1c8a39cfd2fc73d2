import type { ModelTokenizer } from './tokenizer.js';

/** How many tokens before the read point are re-decoded so word-joining rules see their context. */
const CONTEXT_TOKENS = 6;

/**
 * Incremental detokenization in the manner of vLLM and Hugging Face's
 * TextStreamer: decode a short window, emit only text that has become final.
 * A token that ends inside a multi-byte character yields U+FFFD when decoded
 * alone, so text is held back until the character is complete.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Adds one token and returns the text that became final (possibly ''). */
  push(token: number): string {
    this.ids.push(token);
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith('\uFFFD')) return '';
    const delta = fullText.slice(prefixText.length);
    this.readOffset = this.ids.length;
    this.prefixOffset = Math.max(0, this.readOffset - CONTEXT_TOKENS);
    return delta;
  }

  /** Text still held back at the end of a sequence (an incomplete character). */
  flush(): string {
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    this.readOffset = this.ids.length;
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  }
}
