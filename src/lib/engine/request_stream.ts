import type { FinishReason, GenerateChunk } from '../protocol.js';
import { IncrementalDetokenizer } from './detokenizer.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * One request's state on the main thread (SGLang's tokenizer-manager side):
 * incremental detokenization, stop strings, and the queue of chunks its
 * caller iterates. Text that could be the start of a stop string is held
 * back until it is known not to be one, so a stop string is never emitted.
 */
export class RequestStream implements AsyncIterable<GenerateChunk> {
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly maxStop: number;
  private text = '';
  private sent = 0;
  private completionTokens = 0;
  private finished = false;
  private readonly queue: GenerateChunk[] = [];
  private error: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(
    readonly rid: string,
    readonly promptTokens: number,
    private readonly stop: readonly string[],
    tokenizer: TextTokenizer,
    /** Called when the caller stops early or a stop string ends the request. */
    private readonly onCancel: (rid: string) => void,
  ) {
    this.detokenizer = new IncrementalDetokenizer(tokenizer);
    this.maxStop = Math.max(0, ...stop.map((s) => s.length));
  }

  get done(): boolean {
    return this.finished;
  }

  /** A token from the worker; `finish` set when the worker ended the request with it. */
  pushToken(token: number, finish: FinishReason | null): void {
    if (this.finished) return;
    this.completionTokens++;
    const before = this.text.length;
    this.text += this.detokenizer.push(token);
    if (finish) this.text += this.detokenizer.flush();
    const stopAt = this.findStop(before);
    if (stopAt >= 0) {
      this.text = this.text.slice(0, stopAt);
      this.emit([token], this.text.length, 'stop');
      this.onCancel(this.rid);
      return;
    }
    this.emit([token], finish ? this.text.length : this.text.length - this.holdBack(), finish);
  }

  /** The worker ended the request without a token (abort). */
  end(reason: FinishReason): void {
    if (this.finished) return;
    this.emit([], this.text.length, reason);
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    this.wake?.();
  }

  private emit(tokenIds: number[], upTo: number, finishReason: FinishReason | null): void {
    const text = upTo > this.sent ? this.text.slice(this.sent, upTo) : '';
    this.sent = Math.max(this.sent, upTo);
    if (finishReason) this.finished = true;
    this.queue.push({
      rid: this.rid,
      tokenIds,
      text,
      finishReason,
      usage: { promptTokens: this.promptTokens, completionTokens: this.completionTokens },
    });
    this.wake?.();
  }

  private findStop(before: number): number {
    let best = -1;
    for (const s of this.stop) {
      const i = this.text.indexOf(s, Math.max(0, before - s.length + 1));
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest tail of the text that begins some stop string. */
  private holdBack(): number {
    for (let k = Math.min(this.maxStop - 1, this.text.length - this.sent); k > 0; k--) {
      const tail = this.text.slice(this.text.length - k);
      if (this.stop.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateChunk> {
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk) {
          yield chunk;
          if (chunk.finishReason) return;
          continue;
        }
        if (this.error) throw this.error;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
    } finally {
      // The caller broke out early: free the request's slot and KV.
      if (!this.finished) {
        this.finished = true;
        this.onCancel(this.rid);
      }
    }
  }
}
