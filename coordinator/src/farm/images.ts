// Any finished image by its id (`<job_id>/<index>`), with its bytes: the
// history GetImage serves.
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@latentfarm/common';
import { FinishReason, type ImageInfo } from '@latentfarm/proto';
import { checkIdLength, excerpt } from '../jobs/bounds.js';
import { parseImageId } from '../store/image-id.js';
import type { Store } from '../store/store.js';
import type { JobTable } from './job-table.js';
import type { Principal } from './principal.js';

export interface RenderedImage {
  /** The committed info, with the stored size and MIME type. */
  info: ImageInfo;
  data: Uint8Array;
}

export class ImageHistory {
  constructor(private readonly store: Store, private readonly jobs: JobTable, private readonly maxIdChars: number) {}

  async image(principal: Principal, imageId: string): Promise<RenderedImage> {
    checkIdLength('image_id', imageId, this.maxIdChars);
    const id = parseImageId(imageId);
    if (id === undefined) throw new InvalidArgumentError('image_id', `${excerpt(imageId)} is not an image id (<job_id>/<index>)`);
    const job = await this.jobs.find(principal, id.jobId);
    const { index } = id;
    if (index >= job.total) throw new NotFoundError(`image ${imageId} does not exist: job ${job.id} has ${job.total} images`);
    const info = await this.store.imageInfo(job.id, index);
    if (info === undefined || info.finishReason !== FinishReason.SUCCESS) {
      throw new FailedPreconditionError(`image ${imageId} is not rendered (${info === undefined ? 'not finished yet' : `failed: ${info.error}`})`);
    }
    const stored = await this.store.getImage(info.id);
    if (stored === undefined) throw new NotFoundError(`image ${info.id} is missing from the store`);
    return { info: { ...info, sizeBytes: stored.data.length, mimeType: stored.mimeType }, data: stored.data };
  }
}
