/**
 * Where the nodes of a cluster post what an operator's console shows about each of them, so any
 * node can answer for all. Implementations must guarantee:
 * - `post` replaces the node's previous entry; `all` returns every node's latest entry posted
 *   within `maxAgeMs`, in no particular order, and never another node's entry under a wrong name.
 * - Entries of nodes that stopped posting are forgotten by themselves (a stopped node is not
 *   listed forever); `remove` forgets one at once (a node that stops cleanly).
 */
export interface NodeBoard {
  post(node: string, entry: string): Promise<void>;
  all(maxAgeMs: number): Promise<{ node: string; at: number; entry: string }[]>;
  remove(node: string): Promise<void>;
}
