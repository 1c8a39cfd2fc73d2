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

/** GPT-2's byte-level alphabet, character → byte: printable bytes stand for themselves, the rest for U+0100 onwards. */
function byteLevelTable(): Map<string, number> {
  const table = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    table.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return table;
}

function usesByteLevel(decoder: unknown): boolean {
  const d = decoder as { type?: string; decoders?: unknown[] } | null | undefined;
  return d?.type === 'ByteLevel' || (d?.type === 'Sequence' && (d.decoders ?? []).some(usesByteLevel));
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
  /** For tokenBytes, built on first use: the byte-level alphabet, or null for tokenizers that spell pieces as text. */
  private byteTable: Map<string, number> | null | undefined;
  private addedIds: Set<number> = new Set();
  private readonly decoderJson: unknown;
  private readonly textDecoder = new TextDecoder();

  constructor(spec: ModelSpec) {
    this.tokenizer = new Tokenizer(spec.tokenizerJson, spec.tokenizerConfig);
    this.decoderJson = (spec.tokenizerJson as { decoder?: unknown }).decoder;
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

  /**
   * The bytes one token stands for (OpenAI's logprobs `bytes`): byte-level
   * pieces map back through GPT-2's alphabet, a `<0xNN>` byte-fallback piece
   * is that byte, and SentencePiece's ▁ is a space.
   */
  tokenBytes(id: number): Uint8Array {
    const piece = this.tokenizer.id_to_token(id) ?? '';
    if (this.byteTable === undefined) {
      this.byteTable = usesByteLevel(this.decoderJson) ? byteLevelTable() : null;
      this.addedIds = new Set(this.tokenizer.get_added_tokens_decoder().keys());
    }
    const table = this.byteTable;
    if (table && !this.addedIds.has(id)) {
      const bytes: number[] = [];
      for (const ch of piece) {
        const b = table.get(ch);
        if (b === undefined) return Buffer.from(piece);
        bytes.push(b);
      }
      return Uint8Array.from(bytes);
    }
    const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    return fallback ? Uint8Array.of(parseInt(fallback[1], 16)) : Buffer.from(piece.replaceAll('\u2581', ' '));
  }

  /** One token as text: its bytes as UTF-8, a partial character shown as U+FFFD (as vLLM shows it). */
  tokenText(id: number): string {
    return this.textDecoder.decode(this.tokenBytes(id));
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
