/**
 * An abort signal that fires after `ms`, or when `outer` aborts, with a `clear()` to call once the
 * work is done. Not `AbortSignal.any([AbortSignal.timeout(ms), outer])`: on Node 20 the inner
 * timeout signal of `any` is held weakly and can be garbage-collected before it fires, leaving a
 * request to a hanging peer pending for ever. Here the timer holds the controller until it fires
 * or is cleared. A timeout aborts with a `TimeoutError` DOMException, as `AbortSignal.timeout` does.
 */
export function deadline(ms: number, outer?: AbortSignal): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer!.reason);
  const timer = setTimeout(() => controller.abort(new DOMException('The operation timed out', 'TimeoutError')), ms);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}
