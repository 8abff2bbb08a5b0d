import { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { InloopJobProgress } from '@inloop/elements';
import type { InloopClient } from '@inloop/client';
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

/** The job being followed: its id in the URL (`?job=`), its read token in session storage. */
interface Followed {
  id: string;
  token: string;
}

const key = (id: string) => `inloop-demo-job:${id}`;

/** The job a reload should resume: the URL names it and this tab holds its token. */
function fromUrl(): Followed | null {
  const id = new URL(location.href).searchParams.get('job');
  const token = id ? sessionStorage.getItem(key(id)) : null;
  return id && token ? { id, token } : null;
}

function remember(job: Followed | null): void {
  const url = new URL(location.href);
  const old = url.searchParams.get('job');
  if (old && old !== job?.id) sessionStorage.removeItem(key(old));
  if (job) {
    sessionStorage.setItem(key(job.id), job.token);
    url.searchParams.set('job', job.id);
  } else url.searchParams.delete('job');
  history.replaceState(null, '', url);
}

function Opaque({ client }: { client: InloopClient }) {
  const [job, setJob] = useState<Followed | null>(fromUrl);
  const { snapshot, done, error } = useJob(job?.id, { client, token: job?.token });
  const [cancelling, setCancelling] = useState(false);
  useEffect(() => {
    if (snapshot) meter.beat();
  }, [snapshot]);
  useEffect(() => {
    if (done) meter.idle();
  }, [done]);
  useEffect(() => {
    // A job that cannot be read any more (gone, or its token expired): back to the start.
    if (error && job) {
      remember(null);
      setJob(null);
    }
  }, [error, job]);
  const running = job !== null && !done;
  const start = async (rounds: number) => {
    meter.waiting();
    setCancelling(false);
    const started = await client.startJob('opaque.derive', { rounds, passphrase: 'correct horse battery staple' });
    const next = { id: started.id, token: started.token };
    remember(next);
    setJob(next);
  };
  const cancel = async () => {
    if (!job) return;
    setCancelling(true);
    await client.cancelJob(job.id, { token: job.token });
  };
  const result = snapshot?.status === 'succeeded' ? (snapshot.result as { derivedKey: string; rounds: number }) : null;
  return (
    <section className="card">
      <h1>Opaque work</h1>
      <p className="muted">
        A memory-hard key derivation (scrypt, 128 MiB per round) has no way to say how far along it is. The bar is
        estimated from how long this job took before, drawn striped to say so, moves on between the server's updates,
        and never reaches 100&nbsp;% before the work is done. The extra-hard run takes longer than usual, and the page
        says so. Reload the page while it runs: it picks the job up again.
      </p>
      <p className="actions">
        <button className="primary" disabled={running} onClick={() => void start(24)}>
          Derive a key
        </button>
        <button className="secondary" disabled={running} onClick={() => void start(72)}>
          Derive a key, extra hard
        </button>
      </p>
      <div className="job-slot">
        {job ? (
          <Progress snapshot={snapshot ?? undefined} label="Deriving a key" />
        ) : (
          <p className="muted">No key derived yet.</p>
        )}
      </div>
      <div className="job-after">
        {running ? (
          <button className="secondary" disabled={cancelling} onClick={() => void cancel()}>
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : result ? (
          <p data-result>
            Key after {result.rounds} rounds: <code className="key">{result.derivedKey.slice(0, 32)}…</code>
          </p>
        ) : null}
      </div>
    </section>
  );
}

createRoot(document.getElementById('app')!).render(<Opaque client={client} />);
