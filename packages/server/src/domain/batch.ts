import { isStored, type Publication } from '../ports/broker.js';
import type { PublicationCodec } from './outlet.js';

/**
 * The publications of one topic that arrived in one tick. Encoded lazily, once per codec, and
 * shared by every subscriber on that transport.
 */
export class TopicBatch {
  readonly publications: Publication[] = [];
  /** Lowest and highest stored offsets in the batch (undefined while it holds only ephemerals). */
  minOffset: number | undefined;
  maxOffset: number | undefined;
  /** The epoch of the stored publications; null when they span two (history was lost meanwhile). */
  epoch: string | null | undefined;
  readonly acceptedAt = performance.now();
  #codec: PublicationCodec | undefined;
  #bytes: Buffer | undefined;
  #others: Map<PublicationCodec, Buffer> | undefined;

  constructor(readonly topic: string) {}

  add(p: Publication): void {
    this.publications.push(p);
    if (isStored(p)) {
      this.minOffset ??= p.offset;
      this.maxOffset = p.offset;
      this.epoch = this.epoch === undefined || this.epoch === p.epoch ? p.epoch : null;
    }
  }

  /** The batch in `codec`'s encoding, computed on first use. */
  encoded(codec: PublicationCodec): Buffer {
    if (this.#codec === codec) return this.#bytes!;
    if (this.#codec === undefined) {
      this.#codec = codec;
      return (this.#bytes = codec.encode(this.publications));
    }
    this.#others ??= new Map();
    let bytes = this.#others.get(codec);
    if (!bytes) this.#others.set(codec, (bytes = codec.encode(this.publications)));
    return bytes;
  }
}
