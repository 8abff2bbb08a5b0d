import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { usePresence, useTopic } from '@inloop/react';
import { Element } from './elements.js';
import { session } from './session.js';

const TOPIC = 'demo:reactions';
const EMOJI = ['❤️', '👏', '😂', '🎉', '🤯'];
const role = new URLSearchParams(location.search).get('role') === 'presenter' ? 'presenter' : 'audience';
const { client, name } = await session({ askName: true });

interface Floating {
  id: number;
  emoji: string;
  left: number;
}

function Presenter() {
  const [floating, setFloating] = useState<Floating[]>([]);
  const [total, setTotal] = useState(0);
  const { members } = usePresence(TOPIC, { client, meta: { name, role: 'presenter' } });
  const audience = members.filter((m) => (m.meta as { role?: string } | null)?.role === 'audience');
  useTopic(TOPIC, {
    client,
    keep: 1,
    onPublication: (p) => {
      const emoji = (p.data as { emoji?: string } | null)?.emoji;
      if (!emoji || !EMOJI.includes(emoji)) return;
      const f = { id: Math.random(), emoji, left: 5 + Math.random() * 85 };
      setTotal((n) => n + 1);
      setFloating((list) => [...list.slice(-40), f]);
      setTimeout(() => setFloating((list) => list.filter((x) => x !== f)), 3000);
    },
  });
  return (
    <section className="card stage">
      <h1>Presenter view</h1>
      <p>
        <strong data-audience={audience.length}>{audience.length}</strong> in the audience ·{' '}
        <strong data-total={total}>{total}</strong> reactions{' '}
        <Element
          tag="inloop-presence"
          props={{ members: audience, occupancy: { members: audience.length, connections: audience.length } }}
        />
      </p>
      <p className="muted">
        Open <a href="/reactions.html">the audience view</a> in other tabs or on a phone and tap.
      </p>
      <div className="sky" aria-hidden="true">
        {floating.map((f) => (
          <span key={f.id} className="float" style={{ left: `${f.left}%` }} data-emoji={f.emoji}>
            {f.emoji}
          </span>
        ))}
      </div>
    </section>
  );
}

function Audience() {
  const { occupancy } = usePresence(TOPIC, { client, meta: { name, role: 'audience' } });
  const [sent, setSent] = useState(0);
  const react = (emoji: string) => {
    setSent((n) => n + 1);
    void client.publish(TOPIC, { emoji }, { ephemeral: true }).catch(() => {});
  };
  return (
    <section className="card">
      <h1>React to the talk</h1>
      <p className="muted">
        Your taps float up on <a href="/reactions.html?role=presenter">the presenter's screen</a>, live and never
        stored. {occupancy.members} here now.
      </p>
      <div className="buttons" role="group" aria-label="Reactions">
        {EMOJI.map((e) => (
          <button key={e} className="react" onClick={() => react(e)} aria-label={`React ${e}`}>
            {e}
          </button>
        ))}
      </div>
      <p className="muted" data-sent={sent}>
        You sent {sent}.
      </p>
    </section>
  );
}

const style = document.createElement('style');
style.textContent = `
  .stage .sky { position: relative; height: 50vh; overflow: hidden; border-radius: 0.6rem; background: linear-gradient(#e7f5ff, #fff); }
  .float { position: absolute; bottom: 0; font-size: 2.5rem; animation: rise 3s ease-out forwards; }
  @keyframes rise { from { transform: translateY(0); opacity: 1; } to { transform: translateY(-45vh); opacity: 0; } }
  @media (prefers-reduced-motion: reduce) { .float { animation: fade 3s forwards; bottom: 40%; } @keyframes fade { to { opacity: 0; } } }
  .buttons { display: flex; gap: 0.75rem; flex-wrap: wrap; }
  .react { font-size: 2.5rem; padding: 0.5rem 0.9rem; border-radius: 1rem; border: 1px solid #dee2e6; background: #fff; cursor: pointer; }
  .react:active { transform: scale(0.95); }
`;
document.head.append(style);
createRoot(document.getElementById('app')!).render(role === 'presenter' ? <Presenter /> : <Audience />);
