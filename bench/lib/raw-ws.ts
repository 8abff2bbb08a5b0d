import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A minimal WebSocket client on a raw TCP socket, for load generation: no per-message objects,
 * no UTF-8 decoding unless asked, server frames parsed in place. A client built on `ws` saturates
 * its own core near 100k messages/s here, which would make the generator the bottleneck.
 */
export class RawWs {
  #socket!: Socket;
  #pending: Buffer | null = null;
  closed = false;
  /** The close code the server sent (1005 for a close frame without one); undefined if none came. */
  closeCode: number | undefined;

  constructor(
    private readonly port: number,
    private readonly path: string,
    /** Called with each text/binary frame payload (a view into the receive buffer: copy to keep). */
    private readonly onFrame: (payload: Buffer) => void,
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = (this.#socket = connect(this.port, '127.0.0.1'));
      socket.setNoDelay(true);
      const key = randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        if (!head.subarray(0, 12).toString().includes('101'))
          return reject(new Error(head.subarray(0, end).toString()));
        socket.on('data', (c: Buffer) => this.#onData(c));
        const rest = head.subarray(end + 4);
        if (rest.length) this.#onData(rest);
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => (this.closed = true));
      socket.write(
        `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }

  /**
   * Send a text frame (masked with a zero key, which RFC 6455 allows and leaves the bytes as they are).
   * Returns false when the socket's buffer is full: wait for {@link drained} before sending more.
   */
  send(text: string | Buffer, opcode = 0x1): boolean {
    const payload = typeof text === 'string' ? Buffer.from(text) : text;
    const len = payload.length;
    const header = Buffer.alloc(len < 126 ? 6 : len < 65536 ? 8 : 14);
    header[0] = 0x80 | opcode;
    if (len < 126) header[1] = 0x80 | len;
    else if (len < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    return this.#socket.write(Buffer.concat([header, payload]));
  }

  /** Resolves once the socket's buffer has drained, or the socket has closed. */
  drained(): Promise<void> {
    if (this.closed || this.#socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off('drain', done).off('close', done);
        resolve();
      };
      this.#socket.on('drain', done).on('close', done);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (buf.length - pos < 2) break;
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length - pos < 4) break;
        len = buf.readUInt16BE(pos + 2);
        off = 4;
      } else if (len === 127) {
        if (buf.length - pos < 10) break;
        len = Number(buf.readBigUInt64BE(pos + 2));
        off = 10;
      }
      if (buf.length - pos < off + len) break;
      const payload = buf.subarray(pos + off, pos + off + len);
      const opcode = b0 & 0x0f;
      if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      else if (opcode === 0x9) this.send(Buffer.from(payload), 0xa);
      else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) this.onFrame(payload);
      pos += off + len;
    }
    this.#pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
    buf = Buffer.alloc(0);
  }
}

/** Count occurrences of `needle` in `hay` (native indexOf, no decoding). */
export function countOf(hay: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

const T = Buffer.from('"t":');

/** Every send timestamp (`"t":<ms>`) in a frame. */
export function timestamps(payload: Buffer, out: (t: number) => void): void {
  for (let i = payload.indexOf(T); i >= 0; i = payload.indexOf(T, i + 4)) {
    let j = i + 4;
    while (j < payload.length && payload[j] !== 0x2c && payload[j] !== 0x7d) j++;
    out(Number(payload.toString('latin1', i + 4, j)));
  }
}

/** Milliseconds on a clock shared by publisher and subscribers (same process). */
export const nowMs = (): number => performance.timeOrigin + performance.now();
