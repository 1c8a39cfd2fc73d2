import type { Conversation, RequestSpec } from '../workload/request_spec.js';
import type { BenchRun, DriverOptions, RequestOutcome } from './run_types.js';
import type { BenchTarget, Sent } from './targets.js';

/** What the conversation runner needs of the driver: one timed request, and what the target answered. */
interface OneRequest {
  one(target: BenchTarget, spec: RequestSpec, sentAtMs: number, onSent?: (sent: Sent) => void): Promise<RequestOutcome>;
}

/** Default conversations in progress at once. */
export const DEFAULT_SESSIONS = 4;

/**
 * Runs multi-turn conversations, `sessions` at a time: each turn is sent
 * once the one before it is answered (and `thinkTimeMs` has passed), and
 * carries the conversation so far, the answers included: token ids when
 * the target gives them back (in-process), else text (a server). A turn
 * whose request failed ends its conversation.
 */
export async function runConversations(
  driver: OneRequest,
  target: BenchTarget,
  conversations: readonly Conversation[],
  options: Pick<DriverOptions, 'sessions' | 'thinkTimeMs'>,
  progress: (done: number, total: number) => void,
): Promise<BenchRun> {
  const total = conversations.reduce((n, c) => n + c.turns.length, 0);
  const outcomes: RequestOutcome[] = [];
  const start = performance.now();
  const sessions = Math.max(1, Math.min(options.sessions ?? DEFAULT_SESSIONS, conversations.length));
  const think = options.thinkTimeMs ?? 0;
  let next = 0;
  let inFlight = 0;
  let peak = 0;
  let area = 0;
  let last = 0;
  const account = (delta: number): void => {
    const t = performance.now() - start;
    area += inFlight * (t - last);
    last = t;
    inFlight += delta;
    peak = Math.max(peak, inFlight);
  };
  const session = async (): Promise<void> => {
    while (next < conversations.length) {
      const c = conversations[next++];
      // The conversation so far: as ids while the target hands answers back as ids, as text from the first that does not.
      let ids: number[] | null = [];
      let text = '';
      let tokens = 0;
      for (let k = 0; k < c.turns.length; k++) {
        const turn = c.turns[k];
        if (ids) ids = ids.concat(turn.inputIds);
        text += turn.prompt;
        tokens += turn.inputIds.length;
        const input = ids ? { inputIds: ids } : {};
        const spec: RequestSpec = { id: `${c.id}-t${k}`, ...input, prompt: text, inputTokens: tokens, outputTokens: turn.outputTokens, keepOutput: true };
        let answer: Sent['output'];
        account(1);
        const outcome = await driver.one(target, spec, performance.now() - start, (sent) => (answer = sent.output));
        account(-1);
        outcomes.push(outcome);
        progress(outcomes.length, total);
        if (outcome.error !== null) break;
        // The next turn carries the answer: as ids when the target gave them, else as text (a server tokenizes it again).
        const a: Sent['output'] = answer;
        ids = ids && a?.ids ? ids.concat(a.ids) : null;
        text += a?.text ?? '';
        tokens += outcome.outputTokens;
        if (think > 0 && k + 1 < c.turns.length) await new Promise((r) => setTimeout(r, think));
      }
    }
  };
  await Promise.all(Array.from({ length: sessions }, session));
  account(0);
  const durationMs = performance.now() - start;
  return { outcomes, durationMs, peakConcurrency: peak, meanConcurrency: durationMs > 0 ? area / durationMs : 0 };
}
