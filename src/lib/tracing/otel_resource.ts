import { randomUUID } from 'node:crypto';
import type * as Resources from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { SGL_VERSION } from '../version.js';

/**
 * This process's `service.instance.id`: the one OTEL_RESOURCE_ATTRIBUTES
 * names (a deployment's own replica name), else a UUID per process, so
 * replicas of one service tell apart on spans, OTLP metrics, /metrics and
 * trace files alike.
 */
let instanceId: string = instanceIdFromEnv() ?? randomUUID();

function instanceIdFromEnv(): string | null {
  for (const pair of (process.env.OTEL_RESOURCE_ATTRIBUTES ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== 'service.instance.id') continue;
    try {
      const value = decodeURIComponent(pair.slice(eq + 1).trim());
      if (value) return value;
    } catch {
      // a malformed value is ignored, as the SDKs ignore it
    }
  }
  return null;
}

export function serviceInstanceId(): string {
  return instanceId;
}

/** A thread of this process takes the main thread's id (the exporter thread). */
export function adoptServiceInstanceId(id: string): void {
  instanceId = id;
}

/**
 * The resource every OTLP export of this process carries: sgl's own
 * attributes, with OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over them
 * (the variables win, as in every OpenTelemetry SDK).
 */
export function otelResource(resources: typeof Resources): Resource {
  const own = resources.resourceFromAttributes({
    'service.name': 'sgl',
    'service.version': SGL_VERSION,
    'service.instance.id': instanceId,
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
  });
  return own.merge(resources.detectResources({ detectors: [resources.envDetector] }));
}
