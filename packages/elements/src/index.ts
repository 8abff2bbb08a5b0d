export { InloopJobProgress } from './job-progress.js';
export { InloopJobWait } from './job-wait.js';
export { InloopWaitingGame } from './waiting-game.js';
export { ANIMALS, type Animal } from './animals.js';
export { InloopTyping } from './typing-indicator.js';
export { InloopPresence } from './presence-stack.js';
export { InloopReceipt } from './receipt-ticks.js';
export { InloopSilenceMeter } from './silence-meter.js';
export { etaInWords, durationInWords, typingInWords } from './words.js';
