import { css } from 'lit';

/**
 * How `<inloop-job-progress>` looks: the head (label and time left), the bar (solid when measured,
 * striped when estimated), the stages, the note, and the compact form's fixed-height detail line
 * and strip of partial results. Colours come from the `--inloop-*` custom properties.
 */
export const jobProgressStyles = css`
  :host {
    display: block;
    font: inherit;
    color: inherit;
  }
  .head {
    display: flex;
    justify-content: space-between;
    gap: 1rem;
    align-items: baseline;
    flex-wrap: wrap;
  }
  .label {
    font-weight: 600;
  }
  .right {
    flex: 1 1 0;
    min-width: max-content;
    text-align: right;
  }
  .eta {
    color: var(--inloop-muted, #555);
    font-variant-numeric: tabular-nums;
  }
  .bar {
    position: relative;
    height: 0.75rem;
    border-radius: 0.375rem;
    background: var(--inloop-track, #e6e8ee);
    overflow: hidden;
    margin: 0.5rem 0;
  }
  .fill {
    position: absolute;
    inset: 0 auto 0 0;
    border-radius: inherit;
    background: var(--inloop-accent, #3b5bdb);
    transition: width 0.4s ease;
  }
  .fill.estimated {
    background: repeating-linear-gradient(
      -45deg,
      var(--inloop-accent, #3b5bdb) 0 8px,
      var(--inloop-accent-soft, #748ffc) 8px 16px
    );
    opacity: 0.8;
  }
  .kind {
    font-size: 0.8em;
    color: var(--inloop-muted, #555);
  }
  ol.stages {
    list-style: none;
    padding: 0;
    margin: 0.5rem 0;
    display: flex;
    flex-wrap: wrap;
    gap: 0.25rem 1rem;
  }
  .stages li::before {
    content: '○ ';
  }
  .stages li.done::before {
    content: '✓ ';
  }
  .stages li.current {
    font-weight: 600;
  }
  .stages li.later {
    color: var(--inloop-muted, #555);
  }
  .stages li.current::before {
    content: '● ';
    color: var(--inloop-accent, #3b5bdb);
  }
  .slow {
    color: var(--inloop-warn, #a61e4d);
  }
  .message {
    margin: 0.25rem 0;
  }
  .outcome.succeeded {
    color: var(--inloop-ok, #2b7a3b);
  }
  .note {
    min-height: 1.45em;
    margin: 0.25rem 0;
  }
  :host([compact]) .head {
    flex-wrap: nowrap;
    white-space: nowrap;
  }
  :host([compact]) .label {
    overflow: hidden;
    text-overflow: ellipsis;
    min-width: 0;
  }
  :host([compact]) .bar {
    margin: 0.35rem 0;
  }
  .detail {
    height: 1.45em;
    overflow: hidden;
    white-space: nowrap;
    text-overflow: ellipsis;
    font-size: 0.9em;
    color: var(--inloop-muted, #555);
  }
  /* As wide as "99%" (a hidden copy below it sets the width) with the number at its end, so the
     words after it never move while the job runs and no gap opens after "19%" (4.5ch left "7%    ·"). */
  .detail .pct {
    display: inline-flex;
    flex-direction: column;
    align-items: flex-end;
    font-variant-numeric: tabular-nums;
  }
  .detail .pct::after {
    content: '99%' / '';
    visibility: hidden;
    height: 0;
    overflow: hidden;
  }
  .detail .slow {
    font-weight: 600;
  }
  .strip {
    display: flex;
    gap: 0.4rem;
    align-items: flex-start;
    height: var(--inloop-strip-height, 5.25rem);
    overflow-x: auto;
    overflow-y: hidden;
    margin-top: 0.35rem;
    overscroll-behavior-x: contain;
  }
  .strip > * {
    flex: none;
  }
  .strip .empty {
    align-self: center;
    color: var(--inloop-muted, #555);
    font-size: 0.9em;
  }
  .outcome.failed,
  .outcome.cancelled {
    color: var(--inloop-warn, #a61e4d);
  }
  .sr {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
  @media (prefers-reduced-motion: reduce) {
    .fill {
      transition: none;
    }
  }
  .stages li.done::before {
    color: var(--inloop-ok, #2b7a3b);
  }
`;
