import type { IncomingMessage } from 'node:http';
import { HttpError } from './http_error.js';

/**
 * Reads a JSON object body, at most `limit` bytes. Oversized bodies are
 * refused as soon as they pass the limit (413), not after reading them.
 * The Content-Type must say JSON (415 otherwise): the types a web page may
 * send cross-origin without a preflight (text/plain, forms) never reach the
 * engine.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(type)) {
    throw new HttpError(
      415,
      `The body must be JSON sent with Content-Type: application/json (got ${type === '' ? 'no Content-Type' : JSON.stringify(type)}); with curl, add -H 'Content-Type: application/json'.`,
      'invalid_request_error',
      null,
      'unsupported_media_type',
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    throw new HttpError(
      413,
      `The request body is ${declared} bytes; the limit is ${limit} (--max-body-size).`,
      'invalid_request_error',
      null,
      'request_too_large',
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit)
      throw new HttpError(413, `The request body is over the limit of ${limit} bytes (--max-body-size).`, 'invalid_request_error', null, 'request_too_large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'The request body is empty; send a JSON object.', 'invalid_request_error', null, 'invalid_json');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `The request body is not valid JSON: ${(err as Error).message}.`, 'invalid_request_error', null, 'invalid_json');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'The request body must be a JSON object.', 'invalid_request_error', null, 'invalid_json');
  return body as Record<string, unknown>;
}
