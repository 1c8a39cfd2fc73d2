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
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  status: { code: number; message: string };
  events: { name: string; attributes: Record<string, unknown> }[];
  serviceName: string;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: AnyValue[] };
}

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return v.arrayValue.values.map(value);
  return undefined;
}

function attrs(list: { key: string; value: AnyValue }[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, value(a.value)]));
}

const hex = (b: Buffer): string => Buffer.from(b).toString('hex');

/** An OTLP/gRPC trace collector on 127.0.0.1 that keeps what it receives. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private constructor(private readonly server: grpc.Server, readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OtlpReceiver> {
    const def = protoLoader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { includeDirs: [PROTOS], keepCase: false, longs: String, enums: Number, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { opentelemetry: { proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } } } };
    const server = new grpc.Server();
    let receiver: OtlpReceiver | null = null;
    server.addService(pkg.opentelemetry.proto.collector.trace.v1.TraceService.service, {
      Export: (call: grpc.ServerUnaryCall<{ resourceSpans: unknown[] }, unknown>, done: grpc.sendUnaryData<unknown>) => {
        for (const rs of call.request.resourceSpans as { resource: { attributes: { key: string; value: AnyValue }[] }; scopeSpans: { spans: Record<string, unknown>[] }[] }[]) {
          const serviceName = String(attrs(rs.resource?.attributes)['service.name']);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans as Record<string, never>[]) {
              receiver!.spans.push({
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                name: s.name,
                startNs: BigInt(s.startTimeUnixNano),
                endNs: BigInt(s.endTimeUnixNano),
                attributes: attrs(s.attributes),
                status: { code: (s.status as { code: number })?.code ?? 0, message: (s.status as { message: string })?.message ?? '' },
                events: ((s.events as { name: string; attributes: [] }[]) ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
                serviceName,
              });
            }
          }
        }
        done(null, {});
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    receiver = new OtlpReceiver(server, port);
    return receiver;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
