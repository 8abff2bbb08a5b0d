import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { port, ready } from './common.js';

/**
 * Socket.IO with one room, WebSocket transport only (no long-polling upgrade dance). With
 * `BENCH_REDIS_URL`, one node of several on the Redis adapter.
 */
const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
if (process.env.BENCH_REDIS_URL) {
  const pub = new Redis(process.env.BENCH_REDIS_URL);
  io.adapter(createAdapter(pub, pub.duplicate()));
}
io.on('connection', (socket) => {
  if (socket.handshake.query.role === 'pub') {
    socket.on('pub', (payload: unknown) => io.to('room').emit('msg', payload));
    return;
  }
  void socket.join('room');
});
http.listen(port, '127.0.0.1', () => ready({ port: (http.address() as { port: number }).port }));
