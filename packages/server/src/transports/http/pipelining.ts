import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Requests of one connection handled at a time. HTTP/1.1 lets a client send many requests
 * before reading any answer (pipelining), and Node hands them all to the routes at once: each
 * builds its answer, and the answers wait in memory behind the first until the client reads. A
 * client that pipelines a hundred history or stream reads and never reads the answers would hold
 * a hundred pages. Past this many, a request waits for an earlier one's answer to be written out
 * before its route runs, so a connection holds at most this many answers whatever it sends.
 * Browsers do not pipeline; a client that sends one request at a time never waits here.
 */
export const MAX_PIPELINED = 2;

interface SocketTurns {
  active: number;
  waiting: (() => void)[];
}

const turns = new WeakMap<Socket, SocketTurns>();

/** Hold each connection's routes to {@link MAX_PIPELINED} requests in flight. */
export function boundPipelining(app: FastifyInstance, max = MAX_PIPELINED): void {
  app.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket;
    let state = turns.get(socket);
    if (!state) turns.set(socket, (state = { active: 0, waiting: [] }));
    const s = state;
    let started = false;
    const start = (): void => {
      started = true;
      s.active++;
      done();
    };
    // An answer written out, or the connection gone: the next waiting request may run. A request
    // that never started (its connection closed while it waited) frees nothing.
    reply.raw.once('close', () => {
      if (!started) {
        const at = s.waiting.indexOf(start);
        if (at >= 0) s.waiting.splice(at, 1);
        return;
      }
      s.active--;
      const next = s.waiting.shift();
      if (next && !socket.destroyed) next();
    });
    if (s.active < max) start();
    else s.waiting.push(start);
  });
}
