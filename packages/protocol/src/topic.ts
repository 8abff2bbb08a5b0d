/**
 * Topic names and topic patterns.
 *
 * A topic name is 1-200 characters from `A-Z a-z 0-9 _ - . : @ = +`. Names are case-sensitive
 * and opaque: `room:1` and `room:10` are unrelated, and there is no path semantics (`/` is not
 * allowed, so `room:1/../room:2` cannot name anything). The characters are URL-path safe, so a name
 * appears verbatim in `/v1/topics/{topic}/...`.
 *
 * A pattern, used in token scopes, is either an exact name or a prefix followed by a single
 * trailing `*`: `room:42:*` matches `room:42:chat` but neither `room:42` nor `room:420:chat`.
 * A lone `*` matches every topic. `*` anywhere else is invalid.
 */
export const MAX_TOPIC_LENGTH = 200;

const TOPIC_RE = /^[A-Za-z0-9_\-.:@=+]{1,200}$/;

/** Whether `name` is a valid topic name. */
export function isValidTopic(name: unknown): name is string {
  return typeof name === 'string' && TOPIC_RE.test(name);
}

/** Whether `pattern` is a valid topic pattern (exact name, `prefix*`, or `*`). */
export function isValidTopicPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string') return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return TOPIC_RE.test(pattern.slice(0, -1));
  return TOPIC_RE.test(pattern);
}

/**
 * Whether `topic` matches `pattern`. Invalid patterns and invalid topics never match, so a
 * malformed scope can only ever grant less.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  if (!isValidTopic(topic) || !isValidTopicPattern(pattern)) return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return topic.length > prefix.length && topic.startsWith(prefix);
  }
  return pattern === topic;
}
