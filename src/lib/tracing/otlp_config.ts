import { SglError } from '../errors.js';

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export type OtlpSignal = 'traces' | 'metrics';

/** Where one signal goes and how. */
export interface OtlpTarget {
  protocol: OtlpProtocol;
  url: string;
  /** Whether a flag or the OTEL_* environment named it (for the start-up banner). */
  from: 'flag' | 'environment';
}

/** What the command line says; each falls back to the OTEL_* environment. */
export interface OtlpFlags {
  endpoint?: string;
  protocol?: OtlpProtocol;
}

type Env = Record<string, string | undefined>;

function protocolFrom(name: string, env: Env): OtlpProtocol | undefined {
  const v = env[name]?.trim();
  if (!v) return undefined;
  if ((OTLP_PROTOCOLS as readonly string[]).includes(v)) return v as OtlpProtocol;
  throw new SglError(`${name}=${v} is not an OTLP protocol; use one of ${OTLP_PROTOCOLS.join(', ')}.`);
}

function pathOf(url: string): string | null {
  try {
    return new URL(url).pathname.replace(/\/+$/, '');
  } catch {
    return null;
  }
}

/** Port 4318 and /v1/ paths are OTLP/HTTP's; anything else keeps sgl's gRPC default (port 4317). */
function inferredProtocol(url: string): OtlpProtocol {
  try {
    const u = new URL(url);
    return u.port === '4318' || u.pathname.startsWith('/v1/') ? 'http/protobuf' : 'grpc';
  } catch {
    return 'grpc';
  }
}

/**
 * Where a signal's OTLP export goes, read as the OpenTelemetry SDKs read it:
 * the flag, then OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT (used as it
 * is), then OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: OTLP/HTTP appends
 * /v1/traces or /v1/metrics). Metrics take the shared endpoint only when
 * OTEL_METRICS_EXPORTER asks for otlp; OTEL_{TRACES,METRICS}_EXPORTER=none
 * turns the variables off for that signal. The protocol: the flag, then
 * OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL,
 * else inferred from the endpoint (4318 or a /v1/ path: http/protobuf;
 * otherwise grpc). Null when nothing names an endpoint.
 */
export function otlpTarget(signal: OtlpSignal, flags: OtlpFlags = {}, env: Env = process.env): OtlpTarget | null {
  const upper = signal.toUpperCase();
  const specific = env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`]?.trim();
  const shared = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER: `none` turns the variables off for the signal (a flag still counts).
  const exporters = (env[`OTEL_${upper}_EXPORTER`] ?? '').split(',').map((e) => e.trim());
  const off = exporters.includes('none');
  const sharedApplies = signal === 'traces' || exporters.includes('otlp');
  const source = flags.endpoint ? 'flag' : off ? null : specific ? 'specific' : sharedApplies && shared ? 'shared' : null;
  if (!source) return null;
  const endpoint = source === 'flag' ? flags.endpoint! : source === 'specific' ? specific! : shared!;
  const protocol =
    flags.protocol ??
    protocolFrom(`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`, env) ??
    protocolFrom('OTEL_EXPORTER_OTLP_PROTOCOL', env) ??
    inferredProtocol(endpoint);
  // A base URL (the shared variable, or a flag without a path) gets the signal's path over HTTP.
  const base = source === 'shared' || (source === 'flag' && pathOf(endpoint) === '');
  const url = protocol !== 'grpc' && base ? `${endpoint.replace(/\/+$/, '')}/v1/${signal}` : endpoint;
  return { protocol, url, from: source === 'flag' ? 'flag' : 'environment' };
}
