// The live stream: one EventSource on /api/v1/stream, reconnected by itself.
//
// EventSource cannot send headers, so the token travels as the `token` query
// parameter (the server removes it before logging the request). The browser
// reconnects on its own after a dropped or ended stream (the server's retry
// hint); when the server refuses the stream (401, 503) the browser gives up,
// so we check the API and reconnect with a growing pause, or report 401.

import { get, token, url, AuthError } from "./api.js";

const MAX_PAUSE_MS = 30_000;

export class Live {
  /**
   * handlers: onEvents(data), onViews(data), onStatus("connecting"|"live"|"reconnecting"|"offline"),
   * onUnauthorized().
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.source = null;
    this.timer = null;
    this.pause = 1000;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open("connecting");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  open(status) {
    if (this.stopped) return;
    this.handlers.onStatus(status);
    const t = token();
    const source = new EventSource(url("api/v1/stream", t ? { token: t } : {}));
    this.source = source;
    source.addEventListener("ready", () => {
      this.pause = 1000;
      this.handlers.onStatus("live");
    });
    source.addEventListener("events", (e) => this.handlers.onEvents(JSON.parse(e.data)));
    source.addEventListener("views", (e) => this.handlers.onViews(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      if (this.stopped || source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.handlers.onStatus("offline");
        this.retry();
      } else {
        this.handlers.onStatus("reconnecting"); // the browser reconnects by itself
      }
    });
  }

  async retry() {
    this.source = null;
    try {
      await get("api/v1/dashboard/system/health"); // why was the stream refused?
    } catch (e) {
      if (e instanceof AuthError) {
        this.stop();
        this.handlers.onUnauthorized();
        return;
      }
    }
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open("reconnecting"), this.pause);
    this.pause = Math.min(this.pause * 2, MAX_PAUSE_MS);
  }
}
