import { randomUUID } from 'node:crypto';
import type * as Resources from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { SGL_VERSION } from '../version.js';

/** This process's `service.instance.id`: one per process, so replicas of one service tell apart. */
let instanceId: string = randomUUID();

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
