import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidRequestError } from '../errors.js';
import type { ChatMessage } from '../protocol.js';
import type { ModelSpec } from './model_dir.js';

function tokenText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return '';
}

/** The longest token in bytes (UTF-8 of its vocabulary string, never less than the bytes it stands for). */
function longestToken(tokenizerJson: object): number {
  const json = tokenizerJson as { model?: { vocab?: Record<string, number> | [string, number][] }; added_tokens?: { content?: string }[] };
  const vocab = json.model?.vocab;
  const pieces = Array.isArray(vocab) ? vocab.map(([piece]) => piece) : Object.keys(vocab ?? {});
  for (const t of json.added_tokens ?? []) if (typeof t.content === 'string') pieces.push(t.content);
  return pieces.reduce((max, piece) => Math.max(max, Buffer.byteLength(piece)), 1);
}

/** tokenizer.json through @huggingface/tokenizers, plus the model's chat template. */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly chatTemplate: Template | null;
  private readonly specialTokens: Record<string, string>;
  /**
   * The fewest tokens a text can become is its bytes over this: a prompt
   * longer than the context times this cannot fit, and is refused before
   * tokenizing it (the work that cannot be bounded otherwise).
   */
  readonly maxTokenBytes: number;

  constructor(spec: ModelSpec) {
    this.tokenizer = new Tokenizer(spec.tokenizerJson, spec.tokenizerConfig);
    this.maxTokenBytes = longestToken(spec.tokenizerJson);
    const template = spec.tokenizerConfig.chat_template;
    this.chatTemplate = typeof template === 'string' ? new Template(template) : null;
    this.specialTokens = {
      bos_token: tokenText(spec.tokenizerConfig.bos_token),
      eos_token: tokenText(spec.tokenizerConfig.eos_token),
    };
  }

  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids as number[], { skip_special_tokens: true });
  }

  /** Renders messages with the model's chat template, ready for the assistant's turn. */
  applyChatTemplate(messages: readonly ChatMessage[]): number[] {
    if (!this.chatTemplate) {
      throw new InvalidRequestError('This model has no chat template (tokenizer_config.json has no chat_template); send a plain prompt instead.', 'messages');
    }
    let text: string;
    try {
      text = this.chatTemplate.render({ messages, add_generation_prompt: true, ...this.specialTokens });
    } catch (err) {
      throw new InvalidRequestError(`The chat template rejected these messages: ${(err as Error).message}`, 'messages');
    }
    // The template writes the special tokens itself.
    return this.encode(text, false);
  }
}
