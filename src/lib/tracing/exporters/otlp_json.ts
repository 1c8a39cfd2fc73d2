import type { FinishedRequest } from '../finished_request.js';
import { requestSpans } from './otel_spans.js';

/**
 * Finished requests as one OTLP/JSON ExportTraceServiceRequest (the proto3
 * JSON mapping: hex ids, nanosecond times as strings), the format the
 * OpenTelemetry Collector's file receiver reads back.
 */
export async function otlpJson(requests: readonly FinishedRequest[]): Promise<string> {
  const { JsonTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'sgl' });
  const spans = requests.flatMap((r) => requestSpans(r, resource));
  return Buffer.from(JsonTraceSerializer.serializeRequest(spans) ?? new Uint8Array()).toString('utf8') + '\n';
}
