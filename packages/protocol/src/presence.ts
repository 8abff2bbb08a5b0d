import type { Json } from './messages.js';

/**
 * Presence on the wire. A Member is one identity (a token subject) on one topic, with one or
 * more connections (tabs, devices); it joins with its first connection and leaves with its last.
 */

/** Largest presence metadata accepted, in bytes of JSON. */
export const MAX_PRESENCE_META_BYTES = 1024;
/** Longest device label. */
export const MAX_DEVICE_LENGTH = 64;

/** A member as watchers see it. */
export interface PresenceMember {
  /** The member id: the token subject (or the member an API key acts as). */
  id: string;
  /** Small app-defined metadata: name, avatar, status (`online`, `away` ...). At most 1 KiB. */
  meta: Json;
  /** Live connections of this member on the topic. */
  connections: number;
  /** Distinct device labels given at join (`web`, `ios` ...). */
  devices: string[];
  /** When the member joined (first connection), ms since the epoch. */
  joinedAt: number;
}

/** A member who left: its last metadata and when it was last seen. */
export interface PresenceLeft {
  id: string;
  lastSeen: number;
}

/** How many are here. */
export interface Occupancy {
  members: number;
  connections: number;
}

/** A member seen before: for "last seen 5 min ago". */
export interface LastSeen {
  id: string;
  meta: Json;
  lastSeen: number;
}

const utf8 = new TextEncoder();

/** Size of a value as JSON, in UTF-8 bytes; Infinity when it cannot be serialized. */
export function jsonBytes(value: unknown): number {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? Infinity : utf8.encode(text).length;
  } catch {
    return Infinity;
  }
}

/** Whether presence `meta` is within the size limit (undefined counts as `null`). */
export function presenceMetaFits(meta: unknown): boolean {
  return meta === undefined || jsonBytes(meta) <= MAX_PRESENCE_META_BYTES;
}
