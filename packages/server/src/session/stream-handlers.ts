import type { ClientMessage } from '@inloop/protocol';
import type { Session } from './session.js';

type StreamType = 'stream.subscribe' | 'stream.unsubscribe' | 'stream.stop';
type Handler<T extends StreamType> = (session: Session, message: Extract<ClientMessage, { type: T }>) => Promise<void>;

/** Watching and stopping streams (see docs/streams.md). */
export const streamHandlers: { [T in StreamType]: Handler<T> } = {
  async 'stream.subscribe'(session, { id }) {
    session.reply(id, 'unavailable', 'streams are not served yet');
  },
  async 'stream.unsubscribe'(session, { id }) {
    session.reply(id, 'unavailable', 'streams are not served yet');
  },
  async 'stream.stop'(session, { id }) {
    session.reply(id, 'unavailable', 'streams are not served yet');
  },
};
