import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWebhookReceiver } from './webhook-receiver.js';

/**
 * The test webhook receiver as a process of its own (started by webhook-receiver-process.ts):
 * options from argv[2] as JSON. Prints `{"url", "control"}` once listening; `GET <control>`
 * answers the deliveries so far (without the raw bodies).
 */
const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startWebhookReceiver>[0];
const receiver = await startWebhookReceiver(options);
const control = http.createServer((_req, res) => {
  const deliveries = receiver.deliveries.map(({ raw: _raw, body: _body, ...d }) => d);
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(deliveries));
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const port = (control.address() as AddressInfo).port;
process.stdout.write(`${JSON.stringify({ url: receiver.url, control: `http://127.0.0.1:${port}/` })}\n`);
process.on('SIGTERM', () => void receiver.close().then(() => process.exit(0)));
