/** Time left in words, rounded the way people say it: "about 4 min left". */
export function etaInWords(remainingMs: number): string {
  const s = Math.max(0, remainingMs) / 1000;
  if (s < 5) return 'a few seconds left';
  if (s < 55) return `about ${Math.max(5, Math.round(s / 5) * 5)} s left`;
  const min = s / 60;
  if (min < 1.5) return 'about a minute left';
  if (min < 55) return `about ${Math.round(min)} min left`;
  const h = Math.floor(min / 60);
  const rest = Math.round(min - h * 60);
  return rest >= 5 ? `about ${h} h ${rest} min left` : `about ${h} h left`;
}

/** An ordinal: 1st, 2nd, 3rd, 4th, 11th, 22nd. */
export function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/**
 * A queued job's place in words: "3rd in line, starts in about 20 s", "next in line". `short`, for
 * the one-line compact header of a phone: "next in line · 2 min", so the job's own label is not
 * cut to "Writ…" beside it.
 */
export function lineInWords(position: number, startsInMs: number | null, short = false): string {
  const place = position <= 1 ? 'next in line' : `${ordinal(position)} in line`;
  if (startsInMs === null) return short ? place : `${place}, waiting for a worker…`;
  const s = Math.max(0, startsInMs) / 1000;
  if (short)
    return `${place} · ${s < 5 ? 'soon' : s < 55 ? `${Math.max(5, Math.round(s / 5) * 5)} s` : etaInWords(startsInMs).replace(/^about |^under |^over | left$/g, '')}`;
  const when =
    s < 5
      ? 'starts in a few seconds'
      : s < 55
        ? `starts in about ${Math.max(5, Math.round(s / 5) * 5)} s`
        : etaInWords(startsInMs)
            .replace(/^about/, 'starts in about')
            .replace(/ left$/, '');
  return `${place}, ${when}`;
}

/** A duration in words: "12 s", "3 min 5 s". */
export function durationInWords(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

/** "Ana is typing...", "Ana and Bob are typing...", "Ana, Bob and 2 others are typing...". */
export function typingInWords(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}
