export {
  InloopProvider,
  useConnection,
  useInloop,
  type InloopContextValue,
  type InloopProviderProps,
} from './provider.js';
export type { HookOptions, HookStatus } from './hook-state.js';
export { useJob, type UseJobResult } from './use-job.js';
export { useTopic, type UseTopicOptions, type UseTopicResult } from './use-topic.js';
export { usePresence, type UsePresenceResult } from './use-presence.js';
export { useTyping, type UseTypingResult } from './use-typing.js';
export { useConversation, type UseConversationResult } from './use-conversation.js';
export { useStream, type UseStreamResult } from './use-stream.js';
