import { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { InloopJobProgress } from '@inloop/elements';
import type { InloopClient, StartedJob } from '@inloop/client';
import { useJob } from '@inloop/react';
import { session } from './session.js';

const { client, meter } = await session();

/** A Lit element inside React: properties set through a ref. */
function Progress({ snapshot, label }: { snapshot: InloopJobProgress['snapshot']; label: string }) {
  const ref = useRef<InloopJobProgress>(null);
  useEffect(() => {
    if (ref.current) {
      ref.current.snapshot = snapshot;
      ref.current.label = label;
    }
  }, [snapshot, label]);
  return <inloop-job-progress ref={ref} />;
}

function Opaque({ client }: { client: InloopClient }) {
  const [job, setJob] = useState<StartedJob | null>(null);
  const { snapshot, done } = useJob(job?.id, { client, token: job?.token });
  useEffect(() => {
    if (snapshot) meter.beat();
  }, [snapshot]);
  useEffect(() => {
    if (done) meter.idle();
  }, [done]);
  const start = async (rounds: number) => {
    meter.waiting();
    setJob(await client.startJob('opaque.derive', { rounds, passphrase: 'correct horse battery staple' }));
  };
  const result = snapshot?.status === 'succeeded' ? (snapshot.result as { derivedKey: string; rounds: number }) : null;
  return (
    <section className="card">
      <h1>Opaque work</h1>
      <p className="muted">
        A memory-hard key derivation (scrypt, 128 MiB per round) has no way to say how far along it is. The bar is
        estimated from how long this job took before, drawn striped to say so, and never reaches 100 % before the work
        is done. The extra-hard run takes longer than usual, and the page says so.
      </p>
      {(!job || done) && (
        <p>
          <button className="primary" onClick={() => void start(24)}>
            Derive a key
          </button>{' '}
          <button className="secondary" onClick={() => void start(72)}>
            Derive a key, extra hard
          </button>
        </p>
      )}
      {job && <Progress snapshot={snapshot ?? undefined} label="Deriving a key" />}
      {result && (
        <p data-result>
          Key after {result.rounds} rounds:{' '}
          <code style={{ wordBreak: 'break-all' }}>{result.derivedKey.slice(0, 32)}…</code>
        </p>
      )}
    </section>
  );
}

createRoot(document.getElementById('app')!).render(<Opaque client={client} />);
