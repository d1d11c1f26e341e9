import type { CloudinaryConfig, UploadConfig } from '../config/config.ts';
import { CredentialsError, ExitError, errorMessage } from '../errors.ts';
import type { Resources } from '../resources.ts';
import type { Uploader } from '../cloudinary/uploader.ts';

/**
 * Cloudinary, with the one-line error that names CLOUDINARY_URL when it refuses the credentials or
 * cannot be reached. Light on purpose (the SDK is imported when this runs): `migrate`, `stage` and
 * `worker` call it first, before their other modules load. The credentials check is a round trip
 * that must end before a batch exists; sent first, it is answered while bullmq, knex and the rest
 * load (~0.2 s) and the database opens, instead of after.
 */
export async function openUploader(
  cfg: CloudinaryConfig,
  upload: UploadConfig,
  res: Resources,
  opts: { checkCredentials: boolean },
): Promise<Uploader> {
  const { createCloudinaryUploader } = await import('../cloudinary/uploader.ts');
  const uploader = createCloudinaryUploader(cfg, upload);
  res.defer('uploader', () => uploader.close());
  if (opts.checkCredentials) {
    try {
      await uploader.checkCredentials();
    } catch (err) {
      if (err instanceof CredentialsError) throw new ExitError(2, err.message);
      throw new ExitError(2, `CLOUDINARY_URL: cannot reach Cloudinary at ${cfg.uploadPrefix} (${errorMessage(err)})`);
    }
  }
  return uploader;
}

/**
 * Starts openUploader and resolves once its check has been sent (the SDK loaded), so that what the
 * caller loads next runs while the answer travels. The opening itself is the returned `uploader`;
 * its failure is reported by whoever awaits it.
 */
export async function startUploader(
  cfg: CloudinaryConfig,
  upload: UploadConfig,
  res: Resources,
): Promise<{ uploader: Promise<Uploader> }> {
  const uploader = openUploader(cfg, upload, res, { checkCredentials: true });
  uploader.catch(() => {});
  await import('../cloudinary/uploader.ts');
  return { uploader };
}
