import { Injectable } from '@nestjs/common';
import { DeliveryConfig } from './delivery.config';
import { DeliveryMetrics } from './delivery.metrics';

/** How often the pause is reconsidered: long enough to hear from several player messages. */
export const PACING_WINDOW_MS = 250;
/** The first step of a pause, and below this a pause ends. */
export const PAUSE_STEP_MS = 10;
/** The longest pause before a chunk, so a broadcast always moves on. */
export const PAUSE_MAX_MS = 2_000;

/**
 * Keeps broadcasts from slowing players' messages (docs/api.md, System
 * messages): a broadcast chunk and a player's delivery share Postgres (its
 * cores, its WAL and disk), and on a busy database a chunk after chunk can
 * hold a player's message back by hundreds of milliseconds. Each delivery
 * process watches its own players' messages, from acceptance to their inbox;
 * while the slowest of a window took longer than BROADCAST_YIELD_LATENCY_MS,
 * every chunk waits first, the pause doubling each window until players'
 * messages are quick again, then halving away. With no player messages, or
 * quick ones, broadcasts run flat out. The pause is at most PAUSE_MAX_MS, so
 * a broadcast never stops.
 */
@Injectable()
export class BroadcastPacer {
  private slowest = 0;
  private windowStarted = Date.now();
  private pauseMs = 0;

  constructor(
    private readonly config: DeliveryConfig,
    private readonly metrics: DeliveryMetrics,
  ) {}

  /** A player's message reached its inbox `latencyMs` after the gateway accepted it. */
  record(latencyMs: number): void {
    if (latencyMs > this.slowest) this.slowest = latencyMs;
  }

  /** The pause a chunk starting now waits. */
  get currentPauseMs(): number {
    return this.pauseMs;
  }

  /** Before each chunk: waits as long as players' messages call for. */
  async turn(): Promise<void> {
    const limit = this.config.BROADCAST_YIELD_LATENCY_MS;
    if (limit === 0) return;
    const now = Date.now();
    if (now - this.windowStarted >= PACING_WINDOW_MS) {
      if (this.slowest > limit) this.pauseMs = Math.min(PAUSE_MAX_MS, Math.max(PAUSE_STEP_MS, this.pauseMs * 2));
      else this.pauseMs = this.pauseMs / 2 < PAUSE_STEP_MS ? 0 : Math.round(this.pauseMs / 2);
      this.slowest = 0;
      this.windowStarted = now;
    }
    if (this.pauseMs === 0) return;
    this.metrics.broadcastPausedSeconds.inc(this.pauseMs / 1000);
    await new Promise((wake) => setTimeout(wake, this.pauseMs));
  }
}
