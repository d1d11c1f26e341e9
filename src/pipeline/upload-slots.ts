import { CredentialsError } from '../errors.ts';
import type { Uploader } from '../cloudinary/uploader.ts';

/**
 * `--concurrency N` is the number of uploads in flight, what Cloudinary's advice (20-50 parallel
 * uploads) is about. A job is more than its upload: a read of the ledger and the row before it, a
 * transaction after it. If the worker took only N jobs, each upload slot would stand idle for that
 * database work between two uploads (~10% of the slot at 250 ms an upload, measured). So the worker
 * takes a few more jobs than there are slots, and the uploads themselves wait here for a slot: one
 * job's database work overlaps the others' uploads, and N uploads stay in flight.
 */
export function jobsForUploadSlots(slots: number): number {
  return slots + Math.ceil(slots / 4);
}

/**
 * The same uploader, with at most `slots` uploads in flight at once; the rest wait their turn, in
 * order. Once Cloudinary refuses the credentials, no waiting upload is sent: each would be refused too.
 */
export function limitUploads(uploader: Uploader, slots: number): Uploader {
  let inFlight = 0;
  let refused: CredentialsError | undefined;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };
  const upload: Uploader['upload'] = async (req) => {
    if (inFlight < slots) inFlight++;
    // A slot handed over by release() counts as taken already.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      if (refused) throw refused;
      return await uploader.upload(req);
    } catch (err) {
      if (err instanceof CredentialsError) refused = err;
      throw err;
    } finally {
      release();
    }
  };
  return Object.assign(Object.create(uploader) as Uploader, { upload });
}
