import type { Agent } from 'node:http';

/** The parts of an emulator (or of any Cloudinary-compatible endpoint) the SDK needs to know. */
export interface SdkTarget {
  url: string;
  cloudName: string;
  apiKey: string;
  apiSecret: string;
}

export interface EmulatorSdkOptions {
  cloud_name: string;
  api_key: string;
  api_secret: string;
  upload_prefix: string;
  agent: Agent;
}

/**
 * Per-call options for uploader.* and api.* calls. The SDK picks `https` or `http` once, at load,
 * from CLOUDINARY_URL; an `http.Agent` makes its `https.request` speak plain HTTP to the emulator
 * regardless, so the agent is required rather than optional.
 */
export function sdkOptions(target: SdkTarget, agent: Agent): EmulatorSdkOptions {
  return {
    cloud_name: target.cloudName,
    api_key: target.apiKey,
    api_secret: target.apiSecret,
    upload_prefix: target.url,
    agent,
  };
}

export interface DeliveryUrlOptions {
  cloud_name: string;
  secure: false;
  cname: string;
  private_cdn: false;
  cdn_subdomain: false;
  secure_cdn_subdomain: false;
  urlAnalytics: false;
}

/**
 * Options for `cloudinary.url()` so it builds `http://HOST:PORT/<cloud>/image/upload/...`.
 * `secure: false` + `cname` is the only SDK path that yields a custom http host and keeps the
 * `/<cloud>` path prefix (shared-CDN layout, hence `private_cdn: false`); `urlAnalytics: false`
 * drops the `?_a=` tracking query so URLs equal the upload response's `url`.
 */
export function deliveryUrlOptions(target: Pick<SdkTarget, 'url' | 'cloudName'>): DeliveryUrlOptions {
  return {
    cloud_name: target.cloudName,
    secure: false,
    cname: new URL(target.url).host,
    private_cdn: false,
    cdn_subdomain: false,
    secure_cdn_subdomain: false,
    urlAnalytics: false,
  };
}
