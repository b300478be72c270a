export { SHIPPED_MAJORS, type ShippedMajor, serverBinaries } from "./binaries.js";
export { herokuLikeDatabase, type LocalDatabase, type ProfileOptions, rdsLikeDatabase } from "./profiles.js";
export {
  freePort,
  LocalServer,
  type LocalServerOptions,
  type ServerHandle,
  SSL_ONLY_GROUP,
} from "./server.js";
