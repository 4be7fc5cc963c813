/**
 * The cache service's request and response messages, generated from its
 * protobuf description and shipped inside @actions/cache. The package exports
 * only its root, so they are imported by path. Parsing requests and building
 * responses with the client's own message types keeps the fake's wire format
 * the one the client was built against.
 */
export {
  CreateCacheEntryRequest,
  CreateCacheEntryResponse,
  FinalizeCacheEntryUploadRequest,
  FinalizeCacheEntryUploadResponse,
  GetCacheEntryDownloadURLRequest,
  GetCacheEntryDownloadURLResponse,
} from '../../../node_modules/@actions/cache/lib/generated/results/api/v1/cache.js';
