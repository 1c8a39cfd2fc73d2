/**
 * The OTLP exporter thread: builds spans from finished requests and
 * serializes and sends them, off the main thread, whose event loop serves
 * requests. The main side is OtlpThreadExporter (otlp_threaded.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { alignClock } from '../clock.js';
import { adoptServiceInstanceId } from '../otel_resource.js';
import type { OtlpThreadData, ToOtlpThread, FromOtlpThread } from './otlp_threaded.js';
import { createOtlpExporter } from './otlp_exporter.js';

const port = parentPort!;
const data = workerData as OtlpThreadData;
alignClock(data.timeOrigin);
adoptServiceInstanceId(data.instanceId);
const send = (msg: FromOtlpThread): void => port.postMessage(msg);

try {
  const exporter = await createOtlpExporter(data.target, null, { ...data.options, onDrop: (count, why) => send({ type: 'dropped', count, why }) });
  port.on('message', (msg: ToOtlpThread) => {
    switch (msg.type) {
      case 'export':
        exporter.export(msg.req);
        break;
      case 'flush':
        void exporter.flush().then(() => send({ type: 'done', id: msg.id, sent: exporter.sent }));
        break;
      case 'shutdown':
        void exporter.shutdown(msg.deadline).then(() => {
          send({ type: 'done', id: msg.id, sent: exporter.sent });
          port.close();
        });
        break;
    }
  });
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'fatal', message: (err as Error).message });
}
