import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Vendored with their licence (otlp_protos/README.md). */
const PROTOS = fileURLToPath(new URL('./otlp_protos', import.meta.url));

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  status: { code: number; message: string };
  events: { name: string; attributes: Record<string, unknown> }[];
  serviceName: string;
  resource: Record<string, unknown>;
}

export interface ReceivedHistogramPoint {
  attributes: Record<string, unknown>;
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  resource: Record<string, unknown>;
  points: ReceivedHistogramPoint[];
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: AnyValue[] };
}

type KeyValues = { key: string; value: AnyValue }[];

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return v.arrayValue.values.map(value);
  return undefined;
}

function attrs(list: KeyValues = []): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, value(a.value)]));
}

/** Ids arrive as bytes over protobuf and as hex strings in OTLP/JSON. */
const hex = (b: Buffer | string | undefined): string => (typeof b === 'string' ? b.toLowerCase() : b ? Buffer.from(b).toString('hex') : '');

type Message = Record<string, never>;

const LOAD_OPTIONS: protoLoader.Options = { includeDirs: [PROTOS], keepCase: false, longs: String, enums: Number, defaults: true };
const PROTO_FILES = ['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto'];
const TRACE_SERVICE = 'opentelemetry.proto.collector.trace.v1.TraceService';
const METRICS_SERVICE = 'opentelemetry.proto.collector.metrics.v1.MetricsService';

/**
 * An OTLP collector on 127.0.0.1 that keeps what it receives: spans and
 * histogram metrics, over gRPC (`start()`) or over HTTP with protobuf or
 * JSON bodies (`startHttp()`, paths /v1/traces and /v1/metrics).
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  /** Content types of the HTTP requests received, in order. */
  readonly contentTypes: string[] = [];
  /** Body bytes received over HTTP (what an exporter puts on the wire, before compression by the transport). */
  bytes = 0;
  private constructor(
    private readonly stopServer: () => Promise<void>,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private takeTraces(req: { resourceSpans?: unknown[] }): void {
    for (const rs of (req.resourceSpans ?? []) as { resource: { attributes: KeyValues }; scopeSpans: { spans: Message[] }[] }[]) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          this.spans.push({
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            kind: Number(s.kind ?? 0),
            startNs: BigInt(s.startTimeUnixNano),
            endNs: BigInt(s.endTimeUnixNano),
            attributes: attrs(s.attributes),
            status: { code: (s.status as { code: number })?.code ?? 0, message: (s.status as { message: string })?.message ?? '' },
            events: ((s.events as { name: string; attributes: KeyValues }[]) ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
            serviceName: String(resource['service.name']),
            resource,
          });
        }
      }
    }
  }

  private takeMetrics(req: { resourceMetrics?: unknown[] }): void {
    for (const rm of (req.resourceMetrics ?? []) as { resource: { attributes: KeyValues }; scopeMetrics: { metrics: Message[] }[] }[]) {
      const resource = attrs(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const histogram = m.histogram as { dataPoints: Message[] } | undefined;
          this.metrics.push({
            name: m.name,
            unit: m.unit,
            resource,
            points: (histogram?.dataPoints ?? []).map((p) => ({
              attributes: attrs(p.attributes),
              bounds: (p.explicitBounds as number[]).map(Number),
              counts: (p.bucketCounts as (string | number)[]).map(Number),
              sum: Number(p.sum),
              count: Number(p.count),
            })),
          });
        }
      }
    }
  }

  /** An OTLP/gRPC collector (traces and metrics). */
  static async start(): Promise<OtlpReceiver> {
    const def = protoLoader.loadSync(PROTO_FILES, LOAD_OPTIONS);
    const server = new grpc.Server();
    let receiver: OtlpReceiver | null = null;
    server.addService(def[TRACE_SERVICE] as grpc.ServiceDefinition, {
      Export: (call: grpc.ServerUnaryCall<{ resourceSpans: unknown[] }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        receiver!.takeTraces(call.request);
        done(null, {});
      },
    });
    server.addService(def[METRICS_SERVICE] as grpc.ServiceDefinition, {
      Export: (call: grpc.ServerUnaryCall<{ resourceMetrics: unknown[] }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        receiver!.takeMetrics(call.request);
        done(null, {});
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    receiver = new OtlpReceiver(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())), port);
    return receiver;
  }

  /** An OTLP/HTTP collector: protobuf or JSON bodies, as the Content-Type says. */
  /** `countOnly`: counts body bytes and answers, without decoding (a benchmark's collector, which should cost the process it measures little). */
  static async startHttp(options: { countOnly?: boolean } = {}): Promise<OtlpReceiver> {
    const def = protoLoader.loadSync(PROTO_FILES, LOAD_OPTIONS);
    const decode = {
      '/v1/traces': (def[TRACE_SERVICE] as grpc.ServiceDefinition).Export.requestDeserialize,
      '/v1/metrics': (def[METRICS_SERVICE] as grpc.ServiceDefinition).Export.requestDeserialize,
    } as Record<string, (b: Buffer) => Record<string, unknown[]>>;
    let receiver: OtlpReceiver | null = null;
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = req.headers['content-type'] ?? '';
        receiver!.contentTypes.push(type);
        receiver!.bytes += body.length;
        const path = req.url ?? '';
        if (!decode[path]) {
          res.writeHead(404).end();
          return;
        }
        if (options.countOnly) {
          res.writeHead(200, { 'Content-Type': type.includes('json') ? 'application/json' : 'application/x-protobuf' }).end(type.includes('json') ? '{}' : '');
          return;
        }
        const message = type.includes('json') ? (JSON.parse(body.toString()) as Record<string, unknown[]>) : decode[path](body);
        if (path === '/v1/traces') receiver!.takeTraces(message);
        else receiver!.takeMetrics(message);
        res.writeHead(200, { 'Content-Type': type.includes('json') ? 'application/json' : 'application/x-protobuf' }).end(type.includes('json') ? '{}' : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new OtlpReceiver(() => new Promise<void>((resolve) => server.close(() => resolve())), (server.address() as AddressInfo).port);
    return receiver;
  }

  async stop(): Promise<void> {
    await this.stopServer();
  }
}
