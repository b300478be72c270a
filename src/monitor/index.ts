export { ASSET_PATHS } from "./assets.js";
export { type FeedMessage, MonitorFeed, type Sample, type Snapshot } from "./feed.js";
export { hostPort, isLoopback, type ListenAddress, parseListenAddress } from "./listen-address.js";
export { MonitorMetrics, PHASES } from "./metrics.js";
export { publicEvent, scrub } from "./public-event.js";
export { type MonitorServer, type MonitorServerOptions, startMonitorServer } from "./server.js";
