import { randomUUID } from 'node:crypto';
import type * as Resources from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { SGL_VERSION } from '../version.js';

/** This process's `service.instance.id`: one per process, so replicas of one service tell apart. */
export const SERVICE_INSTANCE_ID = randomUUID();

/**
 * The resource every OTLP export of this process carries: sgl's own
 * attributes, with OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over them
 * (the variables win, as in every OpenTelemetry SDK).
 */
export function otelResource(resources: typeof Resources): Resource {
  const own = resources.resourceFromAttributes({
    'service.name': 'sgl',
    'service.version': SGL_VERSION,
    'service.instance.id': SERVICE_INSTANCE_ID,
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
  });
  return own.merge(resources.detectResources({ detectors: [resources.envDetector] }));
}
