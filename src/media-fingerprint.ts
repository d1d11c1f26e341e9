/** A few of a batch's files as MEDIA_ROOT held them when it was enqueued: enough to tell a machine without the media. */
export interface MediaFingerprint {
  files: { path: string; size: number }[];
}
