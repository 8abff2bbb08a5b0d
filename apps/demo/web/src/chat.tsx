import { useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { PendingMessage } from '@inloop/client';
import type { ConversationMessage } from '@inloop/protocol';
import { useConversation, usePresence, useStream } from '@inloop/react';
import { Element } from './elements.js';
import { fallbackName, forgetName, session } from './session.js';

const LOBBY = 'lobby';
const { client, name, subject, meter } = await session({ chat: true });

function Chat() {
  const { conversation, messages, pending, typers, ready } = useConversation(LOBBY, { client });
  // While the connection is lost, `stale`: the members shown are who was here, not who is.
  const { members, occupancy, stale } = usePresence(`conv:${LOBBY}`, {
    client,
    meta: { name, status: 'online' },
    device: 'web',
  });
  const [text, setText] = useState('');
  const waitingFor = useRef<number | null>(null);
  const list = useRef<HTMLOListElement>(null);

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
    if (document.visibilityState === 'visible') void conversation.markRead().catch(() => {});
    if (waitingFor.current !== null) {
      meter.beat();
      if (last.from !== subject) {
        waitingFor.current = null;
        meter.idle();
      }
    }
    list.current?.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }, [messages.length]);
  useEffect(() => {
    const onVisible = () => document.visibilityState === 'visible' && void conversation?.markRead().catch(() => {});
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [conversation]);
  useEffect(() => {
    if (waitingFor.current !== null) meter.beat();
  });

  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (!body || !conversation) return;
    setText('');
    if (waitingFor.current === null) meter.waiting();
    waitingFor.current = Date.now();
    // Shown at once as pending (also while the connection is down), then as sent; a send that
    // gives up stays in the list with a Retry button.
    await conversation.send(body).catch(() => {});
  };

  const drafts = conversation ? [...conversation.drafts.values()] : [];
  return (
    <section className="card chat">
      <div
        style={{
          display: 'flex',
          justifyContent: 'space-between',
          alignItems: 'center',
          gap: '1rem',
          flexWrap: 'wrap',
        }}
      >
        <h1 style={{ margin: 0 }}>The lobby</h1>
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
      {!ready && <p className="muted">Loading…</p>}
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
            {p.state === 'failed' ? (
              <span className="state">
                Not sent.{' '}
                <button
                  type="button"
                  className="link"
                  onClick={() => void conversation?.retry(p.clientId).catch(() => {})}
                >
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
          id="message"
          autoComplete="off"
          placeholder="Say something…"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value) conversation?.typing.keystroke();
            else conversation?.typing.stop();
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
  .messages { list-style: none; padding: 0; margin: 1rem 0; display: flex; flex-direction: column; gap: 0.4rem; max-height: 55vh; overflow-y: auto; }
  .messages li { max-width: 75%; padding: 0.45rem 0.7rem; border-radius: 0.8rem; background: #f1f3f5; display: flex; flex-direction: column; }
  .messages li.mine { align-self: flex-end; background: #dbe4ff; }
  .messages li.draft { opacity: 0.8; }
  .messages li.draft .stop { align-self: flex-end; font-size: 0.75rem; }
  .messages li.pending .state { align-self: flex-end; font-size: 0.75rem; color: var(--inloop-muted); }
  .messages .who { font-size: 0.75rem; color: var(--inloop-muted); }
  .messages inloop-receipt { align-self: flex-end; }
`;
document.head.append(style);
createRoot(document.getElementById('app')!).render(<Chat />);
