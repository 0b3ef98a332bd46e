/**
 * Which devices are connected to the other nodes of a cluster (issue 17): read from the database
 * at start (and again when Redis comes back), then kept by the nodes' presence messages on the
 * cluster bus. A device moving between nodes is online throughout: the old node's "gone" only
 * counts while the device is still listed under that node.
 */
export class RemotePresence {
  private readonly nodeOf = new Map<string, string>();

  change(deviceId: string, node: string, online: boolean): void {
    if (online) this.nodeOf.set(deviceId, node);
    else if (this.nodeOf.get(deviceId) === node) this.nodeOf.delete(deviceId);
  }

  /** A device connected here is no longer counted elsewhere. */
  here(deviceId: string): void {
    this.nodeOf.delete(deviceId);
  }

  /** A node died: none of its devices is connected any more. */
  nodeLost(node: string): string[] {
    const gone = [...this.nodeOf].filter(([, n]) => n === node).map(([id]) => id);
    for (const id of gone) this.nodeOf.delete(id);
    return gone;
  }

  replaceAll(entries: { id: string; node: string }[]): void {
    this.nodeOf.clear();
    for (const e of entries) this.nodeOf.set(e.id, e.node);
  }

  has(deviceId: string): boolean {
    return this.nodeOf.has(deviceId);
  }

  ids(): string[] {
    return [...this.nodeOf.keys()];
  }
}
