/**
 * The tokenizer process: tokenization and chat-template rendering for the
 * engine, away from the server's event loop. A process, not a thread: a
 * template that allocates without bound ends in a V8 fatal error, which
 * would take a whole process down with it; here that is only this one.
 */
import { loadModelSpec } from '../model_dir.js';
import type { TokenizeJob, TokenizeReply } from './tokenizer_pool.js';
import { TextTokenizer } from './tokenizer.js';
import { InvalidRequestError } from '../../errors.js';

const send = (msg: TokenizeReply | { type: 'ready' } | { type: 'fatal'; message: string }): void => {
  process.send!(msg);
};

let tokenizer: TextTokenizer;
try {
  tokenizer = new TextTokenizer(loadModelSpec(process.argv[2]));
} catch (err) {
  send({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
}

process.on('message', (job: TokenizeJob) => {
  try {
    const ids = job.op === 'encode' ? tokenizer.encode(job.text) : tokenizer.applyChatTemplate(job.messages);
    send({ type: 'done', id: job.id, ids });
  } catch (err) {
    const param = err instanceof InvalidRequestError ? err.param : null;
    send({ type: 'failed', id: job.id, message: (err as Error).message, param });
  }
});
// The engine's process is gone or has let go: nothing is left to tokenize for.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
