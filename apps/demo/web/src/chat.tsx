import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { Conversation, InloopError, PendingMessage } from '@inloop/client';
import type { ConversationMessage } from '@inloop/protocol';
import { useConversation, usePresence, useStream } from '@inloop/react';
import { Element } from './elements.js';
import { fallbackName, forgetName, session } from './session.js';

const LOBBY = 'lobby';
const { client, name, subject, meter, rejoin } = await session({ chat: true });
/** Since when this visitor waits for someone else's news (for the silence meter); kept across rejoins. */
const waitingFor: { current: number | null } = { current: null };

/** What a chat mounted afresh after a rejoin takes over from the one before. */
interface Carried {
  /** Shown until the new conversation has loaded, so the list does not empty and refill. */
  shown: Conversation;
  /** Sends not yet stored: sent again under their client ids, so each arrives once. */
  pending: readonly PendingMessage[];
  /** The message field had the focus. */
  focus: boolean;
  /** Who was here: shown until the new presence has loaded, so the count does not read 0 meanwhile. */
  presence: Pick<ReturnType<typeof usePresence>, 'members' | 'occupancy'>;
}

/** The node refused this visitor the lobby: it is not (or no longer) a member. */
const refused = (e: InloopError | null | undefined) => e?.code === 'not_member' || e?.code === 'forbidden';

/** Rejoins in a row allowed within a minute before the page gives up (something else is wrong). */
const MAX_REJOINS = 5;

/**
 * The lobby drops visitors away from it for `DEMO_LOBBY_AWAY_MS` (a network cut longer than that,
 * a laptop asleep), so ticks count the people here. A visitor who comes back finds the lobby
 * refused (`not_member` on the reconnect, `forbidden` when dropped while connected, or itself
 * gone from the members) and joins again without a reload: the session endpoint makes it a member
 * again, the chat is mounted afresh (a new conversation and presence, which load what was said
 * meanwhile), and what was waiting to be sent is sent again under its client id, so it arrives once.
 */
function Lobby() {
  const [round, setRound] = useState(0);
  const [text, setText] = useState('');
  const [rejoining, setRejoining] = useState(false);
  const [failed, setFailed] = useState(false);
  const carried = useRef<Carried | null>(null);
  const busy = useRef(false);
  const rejoins = useRef<number[]>([]);
  const removed = useCallback(async (what: Carried) => {
    if (busy.current) return;
    const now = Date.now();
    rejoins.current = [...rejoins.current.filter((t) => now - t < 60_000), now];
    if (rejoins.current.length > MAX_REJOINS) return setFailed(true);
    busy.current = true;
    carried.current = what;
    setRejoining(true);
    // The connection is back (that is how the refusal came), so the first try normally works.
    for (let attempt = 0; ; attempt++) {
      try {
        await rejoin();
        break;
      } catch {
        if (attempt === 5) {
          busy.current = false;
          return setFailed(true);
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
    busy.current = false;
    setRejoining(false);
    setRound((r) => r + 1);
  }, []);
  if (failed) {
    return (
      <section className="card chat">
        <h1>The lobby</h1>
        <p role="alert">
          You were away for a while and could not rejoin the lobby.{' '}
          <button type="button" className="link" onClick={() => location.reload()}>
            Reload the page
          </button>
        </p>
      </section>
    );
  }
  return (
    <Chat
      key={round}
      carried={round > 0 ? carried.current : null}
      rejoining={rejoining}
      text={text}
      setText={setText}
      onRemoved={(what) => void removed(what)}
    />
  );
}

function Chat({
  carried,
  rejoining,
  text,
  setText,
  onRemoved,
}: {
  carried: Carried | null;
  rejoining: boolean;
  text: string;
  setText: (text: string) => void;
  onRemoved: (what: Carried) => void;
}) {
  const live = useConversation(LOBBY, { client });
  // While the connection is lost, `stale`: the members shown are who was here, not who is.
  const presence = usePresence(`conv:${LOBBY}`, {
    client,
    meta: { name, status: 'online' },
    device: 'web',
  });
  const { stale, error: presenceError } = presence;
  // This visitor is always among the people here, so an empty list is never the truth: it is a
  // channel refused on a reconnect (cleared before the chat rejoins) or a new one not loaded yet.
  // Meanwhile the page shows who was here last, carried through a rejoin.
  const lastPresence = useRef(carried?.presence ?? null);
  if (presence.status === 'ready' && presence.occupancy.members > 0)
    lastPresence.current = { members: presence.members, occupancy: presence.occupancy };
  const { members, occupancy } =
    presence.occupancy.members > 0 || !lastPresence.current ? presence : lastPresence.current;
  const { conversation: current, ready, error } = live;
  // After a rejoin, the chat before it until this one has loaded; what it had waiting shows as
  // being sent until this one sends it again (at once, below).
  const loaded = ready || !carried;
  const conversation = loaded ? current : carried.shown;
  const messages = loaded ? live.messages : carried.shown.messages;
  const pending =
    loaded || live.pending.length > 0
      ? live.pending
      : carried.pending.map((p): PendingMessage => ({ ...p, state: 'pending' }));
  const typers = live.typers;
  const list = useRef<HTMLOListElement>(null);
  const input = useRef<HTMLInputElement>(null);

  // Mounted after a rejoin: send again what was waiting, under the same client ids, and give the
  // message field its focus back.
  useEffect(() => {
    if (!current || !carried) return;
    for (const p of carried.pending) {
      const body = {
        ...(p.text === undefined ? {} : { text: p.text }),
        ...(p.data === undefined ? {} : { data: p.data }),
      };
      void current.send(body, { clientId: p.clientId }).catch(() => {});
    }
    if (carried.focus) input.current?.focus();
  }, [current]);

  // Dropped from the lobby: join again (see Lobby).
  const memberIds = current?.members;
  useEffect(() => {
    if (!current) return;
    const dropped = ready && !current.members.includes(subject);
    const sendRefused = live.pending.some((p) => p.state === 'failed' && refused(p.error));
    if (!refused(error) && !refused(presenceError) && !dropped && !sendRefused) return;
    onRemoved({
      shown: loaded ? current : carried.shown,
      pending: current.pending,
      focus: document.activeElement === input.current || (carried?.focus ?? false),
      presence: lastPresence.current ?? { members, occupancy },
    });
  }, [current, error, presenceError, ready, memberIds, live.pending]);

  const names = useMemo(() => {
    const out: Record<string, string> = {};
    for (const m of conversation?.members ?? []) out[m] = fallbackName(m);
    for (const m of members) {
      const meta = m.meta as { name?: string } | null;
      if (meta?.name) out[m.id] = meta.name;
    }
    out[subject] = `${name} (you)`;
    return out;
  }, [members, conversation?.members]);

  // Seen while the page is visible: mark read. Someone else's news ends the wait we measure.
  useEffect(() => {
    if (!conversation || messages.length === 0) return;
    const last = messages.at(-1)!;
    if (ready && document.visibilityState === 'visible') void current?.markRead().catch(() => {});
    if (waitingFor.current !== null) {
      meter.beat();
      if (last.from !== subject) {
        waitingFor.current = null;
        meter.idle();
      }
    }
    list.current?.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }, [messages.length, ready]);
  useEffect(() => {
    const onVisible = () => document.visibilityState === 'visible' && void current?.markRead().catch(() => {});
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [current]);
  useEffect(() => {
    if (waitingFor.current !== null) meter.beat();
  });

  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (!body || !current) return;
    setText('');
    if (waitingFor.current === null) meter.waiting();
    waitingFor.current = Date.now();
    // Shown at once as pending (also while the connection is down), then as sent; a send that
    // gives up stays in the list with a Retry button.
    await current.send(body).catch(() => {});
  };

  const drafts = conversation ? [...conversation.drafts.values()] : [];
  return (
    <section className="card chat">
      <div className="lobby-head">
        <h1>The lobby</h1>
        <Element tag="inloop-presence" props={{ members, occupancy, stale }} />
      </div>
      <p className="muted">
        You are {name}.{' '}
        <button type="button" className="link" onClick={forgetName}>
          Change name
        </button>
      </p>
      <p className="muted">
        Open this page in another tab under another name. Eliza, a bot, answers every message: watch it read, type, and
        stream its reply.
      </p>
      {!ready && !carried && <p className="muted">Loading…</p>}
      <ol ref={list} className="messages" aria-label="Messages" aria-live="polite">
        {messages.map((m: ConversationMessage) => (
          <li
            // Keyed by client id when it has one, so a pending message becomes the sent one in place.
            key={m.clientId ?? m.offset}
            className={m.from === subject ? 'mine' : 'theirs'}
            data-offset={m.offset}
            data-from={m.from}
          >
            <span className="who">{names[m.from] ?? fallbackName(m.from)}</span>
            <span className="text">{m.text}</span>
            {m.from === subject && conversation && (
              <Element tag="inloop-receipt" props={{ status: conversation.statusOf(m), names }} />
            )}
          </li>
        ))}
        {pending.map((p: PendingMessage) => (
          <li key={p.clientId} className="mine pending" data-pending={p.state}>
            <span className="who">{names[subject]}</span>
            <span className="text">{p.text}</span>
            {/* Refused because the lobby dropped this visitor: it is sent again once rejoined. */}
            {p.state === 'failed' && !rejoining && !refused(p.error) ? (
              <span className="state">
                Not sent.{' '}
                <button type="button" className="link" onClick={() => void current?.retry(p.clientId).catch(() => {})}>
                  Retry
                </button>
              </span>
            ) : (
              <span className="state">Sending…</span>
            )}
          </li>
        ))}
        {drafts.map((d) => (
          // Not read out by the list: the draft's own stream text reads it by sentence.
          <li key={d.clientId} className="theirs draft" data-draft={d.from} aria-live="off">
            <span className="who">{names[d.from] ?? fallbackName(d.from)}</span>
            <DraftText clientId={d.clientId} fallback={d.text} />
          </li>
        ))}
      </ol>
      <Element tag="inloop-typing" props={{ typers, names }} />
      <form onSubmit={(e) => void send(e)} style={{ display: 'flex', gap: '0.5rem' }}>
        <label htmlFor="message" className="sr-only" style={{ position: 'absolute', left: '-999px' }}>
          Message
        </label>
        <input
          ref={input}
          id="message"
          autoComplete="off"
          placeholder="Say something…"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value) current?.typing.keystroke();
            else current?.typing.stop();
          }}
        />
        <button className="primary" style={{ marginTop: 0 }} type="submit">
          Send
        </button>
      </form>
    </section>
  );
}

/**
 * A reply being written, from its stream (`conv:lobby/<clientId>`): a page opened or reloaded
 * mid-answer shows the whole text so far, not only what was drafted since. Any member can stop it.
 */
function DraftText({ clientId, fallback }: { clientId: string; fallback: string }) {
  const { text, end, stop } = useStream({ conversation: LOBBY, message: clientId }, { client });
  return (
    <>
      <Element
        tag="inloop-stream-text"
        className="text"
        data-stream={clientId}
        props={{ text: text || fallback, status: end ?? 'streaming', label: 'Reply being written' }}
      />
      {!end && (
        <button type="button" className="link stop" onClick={() => void stop()}>
          Stop
        </button>
      )}
    </>
  );
}

const style = document.createElement('style');
style.textContent = `
  /* The heading and who is here: on a phone, who is here has a row of its own from the start, so a
     visitor arriving never wraps it onto a new row under the heading (which moved everything below). */
  .lobby-head { display: flex; justify-content: space-between; align-items: center; gap: 0.4rem 1rem; }
  .lobby-head h1 { margin: 0; }
  .lobby-head inloop-presence { min-height: 2.25rem; }
  @media (max-width: 40rem) { .lobby-head { flex-direction: column; align-items: flex-start; } }
  /* The list has its height from the start and scrolls inside itself: the field and Send stay put as messages come. */
  .messages { list-style: none; padding: 0; margin: 1rem 0; display: flex; flex-direction: column; gap: 0.4rem; height: 50vh; min-height: 12rem; overflow-y: auto; }
  .messages li { max-width: 75%; padding: 0.45rem 0.7rem; border-radius: 0.8rem; background: #f1f3f5; display: flex; flex-direction: column; }
  .messages li.mine { align-self: flex-end; background: #dbe4ff; }
  .messages li.draft { opacity: 0.8; }
  .messages li.draft .stop { align-self: flex-end; font-size: 0.75rem; }
  .messages li.pending .state { align-self: flex-end; font-size: 0.75rem; color: var(--inloop-muted); }
  .messages .who { font-size: 0.75rem; color: var(--inloop-muted); }
  .messages inloop-receipt { align-self: flex-end; }
`;
document.head.append(style);
createRoot(document.getElementById('app')!).render(<Lobby />);
