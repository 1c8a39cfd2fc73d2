import type { FinishReason, GenerateChunk, TokenLogprob } from '../protocol.js';
import { now } from '../tracing/clock.js';
import type { RequestTrace } from '../tracing/request_trace.js';
import { S } from '../tracing/stages.js';
import { IncrementalDetokenizer } from './tokenizer/detokenizer.js';
import type { ModelTokenizer } from './tokenizer/tokenizer.js';

/**
 * One request's state on the main thread (SGLang's tokenizer-manager side):
 * incremental detokenization, stop strings, and the queue of chunks its
 * caller iterates. Text that could be the start of a stop string is held
 * back until it is known not to be one, so a stop string is never emitted.
 *
 * Its main-thread stages: detokenize_wait runs from the worker handing a
 * token over to the main thread taking it up (the message hop, and the
 * tokens of other requests ahead of it); detokenize from then to its text
 * being ready; respond runs from a chunk being
 * ready to the caller coming back for the next one.
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
  private finalReason: FinishReason | null = null;
  /** When each queued chunk became ready (only when the request is timed). */
  private readonly readyAt: number[] = [];
  private lastDetokenized = 0;
  private lastResponded = 0;
  /** When the caller issued the request's final write (markFinalWrite), or -1. */
  private finalWriteAt = -1;

  constructor(
    readonly rid: string,
    readonly promptTokens: number,
    private readonly stop: readonly string[],
    tokenizer: ModelTokenizer,
    /** Called when the caller stops early or a stop string ends the request. */
    private readonly onCancel: (rid: string, reason: 'stop' | 'abort') => void,
    readonly trace: RequestTrace,
    /** Put the request's timing on its last chunk (include_timing). */
    private readonly includeTiming = false,
  ) {
    this.detokenizer = new IncrementalDetokenizer(tokenizer);
    this.maxStop = Math.max(0, ...stop.map((s) => s.length));
  }

  /** Prompt tokens the prefix cache supplied (known from the first token on). */
  private cachedTokens = 0;
  /** A last chunk waiting for the worker's records, for its timing. */
  private held: { chunk: GenerateChunk; readyAt: number } | null = null;

  get done(): boolean {
    return this.finished;
  }

  /**
   * A token from the worker; `finish` set when the worker ended the request
   * with it; `sentAt` when the worker handed it over.
   */
  pushToken(token: number, finish: FinishReason | null, sentAt: number, cached = 0, logprobs?: number[]): void {
    if (this.finished) {
      // A stop string ended it here while the worker ended it too (its last token, records with it): nothing more will come.
      if (finish) this.releaseHeld();
      return;
    }
    if (this.completionTokens === 0 && cached > 0) {
      this.cachedTokens = cached;
      this.trace.onCached(cached);
    }
    const timed = this.trace.timed;
    const takenUp = timed ? now() : 0;
    this.completionTokens++;
    const before = this.text.length;
    this.text += this.detokenizer.push(token);
    if (finish) this.text += this.detokenizer.flush();
    if (timed) {
      const done = now();
      // From the worker handing the token over to the main thread taking it up is a wait (the hop,
      // and other requests' tokens of the same step ahead of it); detokenize is the work alone.
      const waitFrom = Math.min(Math.max(sentAt, this.lastDetokenized), takenUp);
      if (takenUp > waitFrom) this.trace.main.slice(S.detokenize_wait, waitFrom, takenUp);
      this.trace.main.slice(S.detokenize, takenUp, done);
      this.lastDetokenized = done;
    }
    const stopAt = this.findStop(before);
    if (stopAt >= 0) {
      this.text = this.text.slice(0, stopAt);
      this.emit([token], this.text.length, 'stop', this.lastDetokenized, logprobs);
      this.onCancel(this.rid, 'stop');
      return;
    }
    this.emit([token], finish ? this.text.length : this.text.length - this.holdBack(), finish, this.lastDetokenized, logprobs);
  }

  /**
   * The worker is done with the request: it ended it without a token
   * (abort), or, after a stop string ended it here, its records are back
   * and a last chunk held for its timing can go.
   */
  end(reason: FinishReason): void {
    if (this.held) return this.releaseHeld();
    if (this.finished) return;
    this.emit([], this.text.length, reason, this.trace.timed ? now() : 0);
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    this.wake?.();
  }

  /**
   * Queues a chunk for the caller; `readyAt` is when it became ready (the
   * start of its respond stage). A last chunk that carries the request's
   * timing waits for the worker's records if they are not back yet (a
   * stop string ended the request on this side).
   */
  private emit(tokenIds: number[], upTo: number, finishReason: FinishReason | null, readyAt: number, logprobs?: number[]): void {
    const text = upTo > this.sent ? this.text.slice(this.sent, upTo) : '';
    this.sent = Math.max(this.sent, upTo);
    if (finishReason) {
      this.finished = true;
      this.finalReason = finishReason;
    }
    const chunk: GenerateChunk = {
      rid: this.rid,
      tokenIds,
      text,
      finishReason,
      usage: { promptTokens: this.promptTokens, completionTokens: this.completionTokens, cachedTokens: this.cachedTokens },
      ...(logprobs ? { logprobs: [tokenLogprob(tokenIds[0], logprobs)] } : {}),
    };
    if (finishReason && this.includeTiming && !this.trace.workerReported) this.held = { chunk, readyAt };
    else this.release(chunk, readyAt);
  }

  private releaseHeld(): void {
    if (!this.held) return;
    const { chunk, readyAt } = this.held;
    this.held = null;
    this.release(chunk, readyAt);
  }

  private release(chunk: GenerateChunk, readyAt: number): void {
    if (chunk.finishReason && this.includeTiming) chunk.timing = this.trace.timing(readyAt) ?? undefined;
    if (this.trace.timed) this.readyAt.push(readyAt);
    this.queue.push(chunk);
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

  /**
   * The caller came back for the next chunk: the one it had is delivered
   * (written, when the caller is the HTTP server). A chunk with tokens marks
   * them as having left the server: the one moment TTFT and ITL are taken
   * from, in the trace, the metrics and every report.
   */
  private responded(readyAt: number, tokens: number): void {
    const t = this.finalWriteAt >= 0 ? this.finalWriteAt : now();
    this.finalWriteAt = -1;
    this.trace.main.slice(S.respond, Math.max(readyAt, this.lastResponded), t);
    this.lastResponded = t;
    if (tokens > 0) this.trace.onToken(t);
  }

  /**
   * The caller is about to write the last bytes of the response (the end of
   * the stream, or the whole body): the request ends there. A client can
   * read those bytes before this thread runs again (on a busy machine the
   * woken reader preempts the writer), so a timestamp taken after the write
   * could fall after the client's own end of the request.
   */
  markFinalWrite(): void {
    if (this.trace.timed) this.finalWriteAt = now();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateChunk> {
    let pending = -1;
    let pendingTokens = 0;
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk) {
          if (this.trace.timed) pending = this.readyAt.shift()!;
          pendingTokens = chunk.tokenIds.length;
          yield chunk;
          if (pending >= 0) this.responded(pending, pendingTokens);
          pending = -1;
          if (chunk.finishReason) return;
          continue;
        }
        if (this.error) throw this.error;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
    } finally {
      // A caller that stops at a chunk still had it delivered.
      if (pending >= 0) this.responded(pending, pendingTokens);
      // The caller broke out early: free the request's slot and KV.
      if (!this.finished) {
        this.finished = true;
        this.onCancel(this.rid, 'abort');
      }
      const outcome = this.error ? 'error' : (this.finalReason ?? 'abort');
      // A completed request ends when its last chunk was delivered; a cut-off one, now.
      const end = outcome === 'stop' || outcome === 'length' ? this.lastResponded || undefined : undefined;
      this.trace.mainDone(outcome, this.completionTokens, this.text, end, this.error?.message);
    }
  }
}

/** The worker's flat [logprob, id1, logprob1, ...] as a TokenLogprob. */
function tokenLogprob(token: number, flat: readonly number[]): TokenLogprob {
  const top: TokenLogprob['top'] = [];
  for (let i = 1; i < flat.length; i += 2) top.push({ token: flat[i], logprob: flat[i + 1] });
  return { token, logprob: flat[0], top };
}
