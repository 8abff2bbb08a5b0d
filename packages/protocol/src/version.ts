/** Wire protocol version, sent by the server in `connected`. Bumped only on breaking changes. */
export const PROTOCOL_VERSION = 1;
