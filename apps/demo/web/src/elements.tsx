import { useEffect, useRef } from 'react';
import '@inloop/elements';

/**
 * A Lit element inside React with its properties set through a ref (every React version sets
 * attributes, not properties, on unknown elements; rich values need properties).
 */
export function Element({
  tag,
  props,
  ...rest
}: { tag: string; props: Record<string, unknown> } & Record<string, unknown>) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (ref.current) Object.assign(ref.current, props);
  });
  const Tag = tag as 'inloop-presence';
  return <Tag ref={ref} {...rest} />;
}
