// Which images can share one UNet call: those of the same model at the same
// size. The worker batches by this key and the coordinator leases by it, so it
// is written once, here.

export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

export const batchGroupKey = (model: string, size: ImageSize): string => `${model}:${size.width}x${size.height}`;
