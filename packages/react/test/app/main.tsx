import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  InloopProvider,
  useConnection,
  useConversation,
  useJob,
  usePresence,
  useStream,
  useTopic,
  useTyping,
} from '@inloop/react';

/**
 * A React 19 app in StrictMode, as an app developer writes one, for the browser tests: the test
 * picks a route through `window.route(...)` and reads what the page shows. Every frame the client
 * sends is counted by type in `window.frames`.
 */
const params = new URLSearchParams(location.search);
const frames: Record<string, number> = {};
const NativeWebSocket = window.WebSocket;
let sockets = 0;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    Object.assign(window, { sockets: ++sockets });
  }

  override send(data: string): void {
    const type = (JSON.parse(data) as { type: string }).type;
    frames[type] = (frames[type] ?? 0) + 1;
    super.send(data);
  }
} as typeof WebSocket;
Object.assign(window, { frames });

type Route = { name: string; [key: string]: string };

function Job({ id, token }: { id: string; token: string }) {
  const { snapshot, done, error, status } = useJob(id, { token });
  return (
    <p data-job={id} data-status={status} data-done={String(done)} data-error={error?.code ?? ''}>
      {snapshot?.status ?? 'loading'}
    </p>
  );
}

/** `since` is `epoch:offset`. */
function Feed({ topic, name, since }: { topic: string; name: string; since?: string | undefined }) {
  const at = since ? { epoch: since.slice(0, since.lastIndexOf(':')), offset: Number(since.split(':').pop()) } : null;
  const { publications, error, status, resets } = useTopic(topic, at ? { since: at } : {});
  return (
    <ul
      data-feed={name}
      data-topic={topic}
      data-count={publications.length}
      data-offsets={publications.map((p) => p.offset).join(',')}
      data-resets={resets}
      data-status={status}
      data-error={error?.code ?? ''}
    >
      {publications.map((p) => (
        <li key={`${p.epoch}:${p.offset}`}>{JSON.stringify(p.data)}</li>
      ))}
    </ul>
  );
}

function Typing({ topic }: { topic: string }) {
  const { typers, error, status } = useTyping(topic);
  return (
    <p data-typing={typers.length} data-status={status} data-error={error?.code ?? ''}>
      typing
    </p>
  );
}

function Chat({ id, name }: { id: string; name: string }) {
  const { messages, ready, error, status } = useConversation(id);
  return (
    <p
      data-chat={name}
      data-ready={String(ready)}
      data-messages={messages.length}
      data-status={status}
      data-error={error?.code ?? ''}
    >
      {messages.map((m) => m.text).join(' | ')}
    </p>
  );
}

function Presence({ topic }: { topic: string }) {
  const { members, error, status } = usePresence(topic, { meta: { page: 'room' } });
  return <p data-presence={members.length} data-status={status} data-error={error?.code ?? ''} />;
}

function Stream({ id, token }: { id: string; token: string }) {
  const { text, end, status, error, stop } = useStream({ job: id, name: 'answer' }, { token });
  return (
    <div data-stream={id} data-status={status} data-end={end ?? ''} data-error={error?.code ?? ''}>
      <p data-text>{text}</p>
      <button type="button" onClick={() => void stop()}>
        Stop
      </button>
    </div>
  );
}

function Connection() {
  const { state, error } = useConnection();
  return <p data-connection={state} data-error={error?.code ?? ''} />;
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'jobs':
      return (
        <>
          {route.jobs!.split(',').map((j) => {
            const [id, token] = j.split('~') as [string, string];
            return <Job key={id} id={id} token={token} />;
          })}
        </>
      );
    case 'stream': {
      const [id, token] = route.job!.split('~') as [string, string];
      return <Stream id={id} token={token} />;
    }
    case 'two-feeds':
      return (
        <>
          <Feed topic={route.topic!} name="one" />
          <Feed topic={route.topic!} name="two" />
        </>
      );
    case 'feed-typing':
      return (
        <>
          <Feed topic={route.topic!} name="feed" />
          {route.typing === 'on' && <Typing topic={route.topic!} />}
        </>
      );
    case 'late-since':
      return (
        <>
          <Feed topic={route.topic!} name="live" />
          {route.since && <Feed topic={route.topic!} name="late" since={route.since} />}
        </>
      );
    case 'since':
      return <Feed topic={route.topic!} name="feed" since={route.since} />;
    case 'two-chats':
      return (
        <>
          <Chat id={route.id!} name="badge" />
          {route.second === 'on' && <Chat id={route.id!} name="page" />}
        </>
      );
    case 'errors':
      return (
        <>
          <Feed topic={route.topic!} name="forbidden" />
          <Typing topic={route.topic!} />
          <Presence topic={route.topic!} />
          <Chat id={route.id!} name="stranger" />
        </>
      );
    case 'room':
      return (
        <>
          <Feed topic={route.topic!} name="room" />
          <Presence topic={route.topic!} />
        </>
      );
    default:
      return <p data-page="home">home</p>;
  }
}

function App() {
  const [route, setRoute] = useState<Route>({ name: 'home' });
  useEffect(() => {
    Object.assign(window, { route: (r: Route) => setRoute(r) });
  }, []);
  return (
    <>
      <Connection />
      <Page route={route} />
    </>
  );
}

const grace = params.get('grace');
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <InloopProvider
      options={{
        url: params.get('node')!,
        token: params.get('token')!,
        ...(grace === null ? {} : { presenceLeaveGraceMs: Number(grace) }),
      }}
    >
      <App />
    </InloopProvider>
  </StrictMode>,
);
