import { WebSocketServer, type WebSocket } from 'ws';
import { port, ready } from './common.js';

/**
 * The baseline: a bare `ws` server that broadcasts each publisher frame with a loop of `send`
 * over the subscribers (one write per subscriber per message), as most hand-rolled servers do.
 */
const wss = new WebSocketServer({ port, perMessageDeflate: false, clientTracking: false });
const subscribers = new Set<WebSocket>();
wss.on('connection', (ws, req) => {
  if (req.url === '/pub') {
    ws.on('message', (data) => {
      for (const s of subscribers) s.send(data, { binary: false });
    });
    return;
  }
  subscribers.add(ws);
  ws.on('close', () => subscribers.delete(ws));
});
wss.on('listening', () => ready({ port: (wss.address() as { port: number }).port }));
