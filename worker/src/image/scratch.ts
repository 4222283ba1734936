// A byte buffer reused between calls that are done with it when they return
// (encoding one image at a time): one allocation instead of one per image,
// which for a small image cost as much in GC as the work itself.
export class ScratchBytes {
  private bytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);

  /** `size` bytes, with whatever the last use left in them; grows to the largest size asked. */
  take(size: number): Uint8Array<ArrayBuffer> {
    if (this.bytes.length < size) this.bytes = new Uint8Array(size);
    return this.bytes.subarray(0, size);
  }
}
