import { Template } from '@huggingface/jinja';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidRequestError, ModelError } from '../../errors.js';
import type { ChatMessage } from '../../protocol.js';
import type { ModelSpec } from '../model_dir.js';

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

/**
 * tokenizer.json as the library takes it: the sections the format lets a
 * file leave out (some exports omit the decoder, a BPE model's merges, the
 * added tokens) are filled with their empty values instead of failing.
 */
function completeTokenizerJson(json: Record<string, unknown>): Record<string, unknown> {
  const model = json.model;
  if (typeof model !== 'object' || model === null) throw new Error('it has no "model" section (the vocabulary)');
  const m = model as Record<string, unknown>;
  const vocab = m.vocab;
  if (typeof vocab !== 'object' || vocab === null) throw new Error('its model has no "vocab"');
  const isBpe = m.type === 'BPE' || (m.type === undefined && !Array.isArray(vocab) && 'continuing_subword_prefix' in m && 'unk_token' in m);
  return {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: Array.isArray(json.added_tokens) ? json.added_tokens : [],
    model: isBpe && !Array.isArray(m.merges) ? { ...m, merges: [] } : m,
  };
}

/** What the engine needs of a tokenizer: a real one (TextTokenizer), or none (--skip-tokenizer-init). */
export interface ModelTokenizer {
  readonly maxTokenBytes: number;
  /** Whether text goes in and comes out; false when the engine runs on token ids alone. */
  readonly hasText: boolean;
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: readonly number[]): string;
  applyChatTemplate(messages: readonly ChatMessage[]): number[];
  tokenBytes(id: number): Uint8Array;
  tokenText(id: number): string;
}

/** How to run a model from token ids, for messages about text a tokenizer-less engine cannot take. */
const TOKEN_IDS_HINT = 'send token ids instead (prompt or input_ids as an array of ids; sgl trace --input-ids)';

/**
 * The engine without a tokenizer (vLLM's and SGLang's --skip-tokenizer-init):
 * requests come as token ids and leave as token ids, with no text.
 */
export class NoTokenizer implements ModelTokenizer {
  readonly maxTokenBytes = 1;
  readonly hasText = false;

  encode(): number[] {
    throw new InvalidRequestError(`This engine runs without a tokenizer (--skip-tokenizer-init), so it cannot take text; ${TOKEN_IDS_HINT}.`, 'prompt');
  }

  applyChatTemplate(): number[] {
    throw new InvalidRequestError(
      `This engine runs without a tokenizer (--skip-tokenizer-init), so it cannot render chat messages; ${TOKEN_IDS_HINT}.`,
      'messages',
    );
  }

  decode(): string {
    return '';
  }

  tokenBytes(): Uint8Array {
    return new Uint8Array(0);
  }

  /** No text for a token: its id, as `token_id:N` (vLLM's spelling when it returns ids). */
  tokenText(id: number): string {
    return `token_id:${id}`;
  }
}

/** tokenizer.json through @huggingface/tokenizers, plus the model's chat template. */
export class TextTokenizer implements ModelTokenizer {
  readonly hasText = true;
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
    const file = join(spec.dir, 'tokenizer.json');
    if (!spec.tokenizerJson)
      throw new ModelError(
        `Model directory ${spec.dir} has no tokenizer.json. Add the model's Hugging Face tokenizer files, or start with --skip-tokenizer-init to run it from token ids.`,
      );
    try {
      const json = completeTokenizerJson(spec.tokenizerJson as Record<string, unknown>);
      this.tokenizer = new Tokenizer(json, spec.tokenizerConfig);
      this.decoderJson = json.decoder;
      this.maxTokenBytes = longestToken(json);
    } catch (err) {
      throw new ModelError(
        `${file} cannot be used: ${(err as Error).message}. Replace it with the model's own tokenizer.json, or start with --skip-tokenizer-init to run the model from token ids.`,
      );
    }
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
