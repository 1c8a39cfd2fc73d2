import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EngineClosedError, InvalidRequestError, ModelError } from '../../errors.js';
import type { ChatMessage } from '../../protocol.js';

export type TokenizeJob = { id: number; op: 'encode'; text: string } | { id: number; op: 'chat'; messages: readonly ChatMessage[] };
export type TokenizeReply = { type: 'done'; id: number; ids: number[] } | { type: 'failed'; id: number; message: string; param: string | null };
type FromChild = TokenizeReply | { type: 'ready' } | { type: 'fatal'; message: string };

interface Pending {
  job: TokenizeJob;
  resolve: (ids: number[]) => void;
  reject: (err: Error) => void;
}

/** A tokenizer process uses at most this much heap: a runaway template dies fast instead of taking the machine's memory. */
const HEAP_MB = 512;

/** Starts one tokenizer process: built `.js` as it is, `.ts` sources (tests, bin/dev.js) through tsx. */
function spawnChild(modelDir: string): ChildProcess {
  const ts = import.meta.url.endsWith('.ts');
  const entry = new URL(`./tokenizer_process.${ts ? 'ts' : 'js'}`, import.meta.url);
  return fork(entry, [modelDir], {
    execArgv: [`--max-old-space-size=${HEAP_MB}`, ...(ts ? ['--import', 'tsx'] : [])],
    serialization: 'json',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
}

/** One tokenizer process and the job it is working on. */
class Slot {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  current: Pending | null = null;
  /** Whether it has loaded its tokenizer: jobs go only to ready processes, so no budget pays for a start. */
  isReady = false;
  /** Whether it ever was ready: one that died starting is not started again in a loop. */
  started = false;
  private timer: NodeJS.Timeout | undefined;
  private stderr = '';

  constructor(
    modelDir: string,
    private readonly onReply: (slot: Slot, reply: TokenizeReply) => void,
    private readonly onExit: (slot: Slot, why: string) => void,
  ) {
    this.child = spawnChild(modelDir);
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4096)));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (msg: FromChild) => {
        if (msg.type === 'ready') {
          this.isReady = true;
          this.started = true;
          resolve();
        } else if (msg.type === 'fatal') reject(new ModelError(msg.message));
        else this.onReply(this, msg);
      });
      this.child.on('exit', (code, signal) => {
        clearTimeout(this.timer);
        const fatal = /(Fatal|FATAL)[^\n]*/.exec(this.stderr)?.[0];
        const why = fatal ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
        reject(new ModelError(`The tokenizer process stopped before it was ready (${why}).`));
        this.onExit(this, why);
      });
    });
    // Only the pool's own start waits on this; a late failure is reported through onExit.
    this.ready.catch(() => {});
  }

  run(p: Pending, timeoutMs: number, onTimeout: (slot: Slot) => void): void {
    this.current = p;
    this.timer = setTimeout(() => onTimeout(this), timeoutMs);
    this.child.send(p.job);
  }

  finish(): Pending | null {
    clearTimeout(this.timer);
    const p = this.current;
    this.current = null;
    return p;
  }
}

/**
 * Tokenization and chat-template rendering in a small pool of child
 * processes, so a slow or hostile request delays only itself: each job has
 * a time budget; a job past it, or one whose process dies (a template that
 * allocates without bound), fails its request with InvalidRequestError and
 * the process is replaced. Jobs wait in arrival order for a free process.
 * One process starts with the pool; more, up to `size`, when jobs wait
 * while every process is busy (an engine that never sees two requests at
 * once never pays for a second).
 */
export class TokenizerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Pending[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly modelDir: string,
    private readonly size: number,
    private readonly timeoutMs: number,
  ) {
    this.slots.push(this.spawn());
  }

  static async start(modelDir: string, size: number, timeoutMs: number): Promise<TokenizerPool> {
    const pool = new TokenizerPool(modelDir, size, timeoutMs);
    try {
      await Promise.all(pool.slots.map((s) => s.ready));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  encode(text: string): Promise<number[]> {
    return this.submit({ id: this.nextId++, op: 'encode', text });
  }

  /** Renders messages with the model's chat template and tokenizes the result. */
  applyChatTemplate(messages: readonly ChatMessage[]): Promise<number[]> {
    return this.submit({ id: this.nextId++, op: 'chat', messages });
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots) slot.child.kill();
    for (const p of this.waiting.splice(0)) p.reject(new EngineClosedError('The engine has shut down.'));
  }

  private submit(job: TokenizeJob): Promise<number[]> {
    if (this.closed) return Promise.reject(new EngineClosedError('The engine has shut down.'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    return new Slot(
      this.modelDir,
      (slot, reply) => this.onReply(slot, reply),
      (slot, why) => this.onExit(slot, why),
    );
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.waiting.length === 0) return;
      if (slot.current || !slot.isReady || !slot.child.connected) continue;
      slot.run(this.waiting.shift()!, this.timeoutMs, (s) => this.onTimeout(s));
    }
    const starting = this.slots.some((s) => !s.isReady && s.child.connected);
    if (this.waiting.length > 0 && !starting && this.slots.length < this.size) {
      const slot = this.spawn();
      this.slots.push(slot);
      void slot.ready.then(
        () => this.dispatch(),
        () => {},
      );
    }
  }

  private onReply(slot: Slot, reply: TokenizeReply): void {
    const p = slot.finish();
    if (p) {
      if (reply.type === 'done') p.resolve(reply.ids);
      else p.reject(new InvalidRequestError(reply.message, reply.param ?? paramOf(p.job)));
    }
    this.dispatch();
  }

  private onTimeout(slot: Slot): void {
    const p = slot.finish();
    p?.reject(
      new InvalidRequestError(
        `Tokenizing this request took longer than ${this.timeoutMs} ms (--tokenize-timeout), so it was stopped; send a shorter prompt or fewer messages.`,
        paramOf(p.job),
        'tokenize_timeout',
      ),
    );
    // No job may reach it between the kill and its exit event.
    slot.isReady = false;
    slot.child.kill('SIGKILL');
  }

  /**
   * A process that ended (killed on a timeout, or died): its job fails and a
   * fresh one takes its place. One that died before it was ever ready is
   * dropped instead, and with no process left what waits fails: a process
   * that cannot start (the model directory went away) is not restarted in a loop.
   */
  private onExit(slot: Slot, why: string): void {
    const p = slot.finish();
    p?.reject(
      new InvalidRequestError(
        `The tokenizer process died while tokenizing this request (${why}); the model's chat template or the prompt needs more than the tokenizer may use.`,
        paramOf(p.job),
        'tokenizer_failed',
      ),
    );
    const i = this.slots.indexOf(slot);
    if (this.closed || i < 0) return;
    if (slot.started) {
      const fresh = (this.slots[i] = this.spawn());
      void fresh.ready.then(
        () => this.dispatch(),
        () => {},
      );
      return;
    }
    this.slots.splice(i, 1);
    if (this.slots.length === 0) {
      for (const w of this.waiting.splice(0)) w.reject(new EngineClosedError(`The tokenizer process could not start (${why}).`));
    }
  }
}

const paramOf = (job: TokenizeJob): string => (job.op === 'chat' ? 'messages' : 'prompt');
