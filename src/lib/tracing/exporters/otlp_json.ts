import type { FinishedRequest } from '../finished_request.js';
import { requestSpans } from './otel_spans.js';

/** Requests per line: a line stays a few MB at level 3 however long the capture. */
const REQUESTS_PER_LINE = 1000;

/**
 * Finished requests as OTLP/JSON ExportTraceServiceRequests (the proto3
 * JSON mapping: hex ids, nanosecond times as strings), one per line of up
 * to 1,000 requests: the JSON Lines form the OpenTelemetry Collector's file
 * exporter writes and its otlpjsonfile receiver reads back. A capture of
 * up to 1,000 requests is one JSON document.
 */
export async function* otlpJsonLines(requests: Iterable<FinishedRequest>): AsyncGenerator<string> {
  const { JsonTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'sgl' });
  let spans: ReturnType<typeof requestSpans> = [];
  let batched = 0;
  const line = (): string => Buffer.from(JsonTraceSerializer.serializeRequest(spans) ?? new Uint8Array()).toString('utf8') + '\n';
  for (const r of requests) {
    for (const s of requestSpans(r, resource)) spans.push(s);
    if (++batched === REQUESTS_PER_LINE) {
      yield line();
      spans = [];
      batched = 0;
    }
  }
  if (batched) yield line();
}
