/**
 * What untrusted JSON may contain, checked once at the door, right after parsing.
 *
 * - **Depth.** `JSON.parse` copes with any depth, but everything after it that recurses
 *   (`JSON.stringify` while a batch is encoded, structured clone, schema validators) throws
 *   `RangeError` on deep enough input: a 12 KB array nested 6,000 levels once took a node down from
 *   inside a timer.
 * - **Prototype keys.** An own `__proto__` key (or `constructor.prototype`) is harmless as parsed,
 *   but turns into prototype pollution the moment anything merges the value with `Object.assign`
 *   or a naive deep merge, in the node or in a subscriber's app. HTTP bodies have always been
 *   refused for it (fastify's secure parser); frames are refused the same way.
 * - **Numbers out of range.** `1e400` parses to `Infinity`, which JSON cannot carry back: it would
 *   be stored and delivered as `null`. A caller that sent it gets an error, not a silent change.
 *
 * The walk is iterative (it can never overflow the stack it protects) and stops at the first fault.
 */

/** The default limit on nesting depth: a frame or body of depth greater than this is refused. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** What {@link inspectJson} found wrong, if anything. */
export type JsonFault = 'too_deep' | 'prototype_key' | 'non_finite_number';

/** A safe sentence for each fault (for `detail` and WebSocket `message`). */
export const JsonFaultDetail: Record<JsonFault, string> = {
  too_deep: 'the JSON is nested too deeply',
  prototype_key: 'keys named __proto__ (or constructor.prototype) are not accepted',
  non_finite_number: 'a number is out of range (JSON numbers must be finite doubles)',
};

const hasPrototypeKey = (node: object): boolean =>
  Object.hasOwn(node, '__proto__') ||
  (Object.hasOwn(node, 'constructor') &&
    typeof (node as { constructor: unknown }).constructor === 'object' &&
    (node as { constructor: object | null }).constructor !== null &&
    Object.hasOwn((node as { constructor: object }).constructor, 'prototype'));

/**
 * The first fault of a parsed JSON `value`, or null. Depth counts containers: a scalar has depth 0,
 * `{}` and `[]` depth 1, `{"a":[1]}` depth 2; past `maxDepth` is `too_deep`. The cost of refusing a
 * hostile document is bounded by the limit, not by its size.
 */
export function inspectJson(value: unknown, maxDepth: number): JsonFault | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'non_finite_number';
  if (typeof value !== 'object' || value === null) return null;
  // Pairs of (container, depth) on an explicit stack.
  const stack: unknown[] = [value, 1];
  while (stack.length > 0) {
    const depth = stack.pop() as number;
    const node = stack.pop() as object;
    if (depth > maxDepth) return 'too_deep';
    const isArray = Array.isArray(node);
    if (!isArray && hasPrototypeKey(node)) return 'prototype_key';
    const children: unknown[] = isArray ? node : Object.values(node);
    for (const child of children) {
      if (typeof child === 'object') {
        if (child !== null) stack.push(child, depth + 1);
      } else if (typeof child === 'number' && !Number.isFinite(child)) return 'non_finite_number';
    }
  }
  return null;
}
