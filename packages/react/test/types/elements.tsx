/**
 * Type test, checked by `tsc -b`: the examples of docs/ui.md and docs/react.md as an app writes
 * them. A hook's `null` ("nothing yet") goes straight into an element's property.
 */
import { useJob, useTopic } from '@inloop/react';
import '@inloop/elements/job-progress';
import '@inloop/elements/job-wait';
import type {} from '@inloop/elements/react';

export function Export({ id, token }: { id: string; token: string }) {
  const { snapshot } = useJob(id, { token });
  return (
    <>
      <inloop-job-progress snapshot={snapshot} label="Export" />
      <inloop-job-wait snapshot={snapshot} />
    </>
  );
}

export function Feed() {
  const { publications, resets } = useTopic('room:42', { onReset: (event) => void event.offset });
  return <p data-resets={resets}>{publications.length}</p>;
}

export function Nothing() {
  return <inloop-job-progress snapshot={null} />;
}
