export {
  createClient,
  InloopClient,
  type ClientOptions,
  type ClientEvents,
  type PublishOptions,
  type PublishResult,
  type SubscribeOptions,
} from './client.js';
export {
  Subscription,
  type Publication,
  type Signal,
  type SubscribedEvent,
  type SubscriptionEvents,
} from './subscription.js';
export { PresenceChannel, type PresenceOptions, type PresenceEvents } from './presence.js';
export { TypingChannel, type TypingOptions, type TypingEvents } from './typing.js';
export {
  Conversation,
  type ConversationOptions,
  type ConversationEvents,
  type Draft,
  type MessageStatus,
  type PendingMessage,
} from './conversation.js';
export {
  SubscriptionTable,
  type SubscriptionWire,
  type AcquireOptions,
  type HistoryPage,
} from './shared-subscriptions.js';
export type { ClientLink } from './link.js';
export { subscribeSse, SseSubscription, type SseOptions } from './sse.js';
export { InloopError } from './errors.js';
export { backoffDelay, RetrySchedule, type BackoffOptions } from './backoff.js';
export { browserNetwork, type NetworkEvent, type NetworkSignals } from './network.js';
export { tokenExpiry, refreshDelay, type TokenSource } from './token.js';
export { States } from './state.js';
export type { ConnectionState, StateChange, StateReason, StateReasonCode } from './state.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-like.js';
export { JobWatch, type StartedJob, type StartJobOptions, type JobWatchEvents } from './jobs.js';
export { StreamWatch, type StreamChunk, type StreamWatchEvents, type WatchStreamOptions } from './streams.js';
