//! The task that keeps a [`RedisStore`](super::RedisStore)'s mirror current: subscribe, resync,
//! apply messages, probe, resync periodically, reconnect with a bounded backoff.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;

use super::{wire, Shared};

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs until aborted (when the last store clone is dropped).
pub(super) async fn run(
    shared: Arc<Shared>,
    client: redis::Client,
    manager: ConnectionManager,
    synced: tokio::sync::watch::Sender<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let (error, was_up) = follow(&shared, &client, &manager, &synced, &mut backoff).await;
        // `follow` returns only when the subscription is lost or a call to Redis failed.
        if was_up {
            tracing::warn!(target: "sealed_session", reason = "store_disconnected", %error, "lost the Redis subscription; reconnecting (the mirror is no longer confirmed)");
        } else {
            tracing::debug!(target: "sealed_session", reason = "store_disconnected", %error, "Redis reconnect attempt failed");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: returns why it ended, and whether the mirror was confirmed on it.
async fn follow(
    shared: &Shared,
    client: &redis::Client,
    manager: &ConnectionManager,
    synced: &tokio::sync::watch::Sender<bool>,
    backoff: &mut Duration,
) -> (String, bool) {
    let pubsub = match shared.bounded(client.get_async_pubsub()).await {
        Ok(pubsub) => pubsub,
        Err(error) => return (error, false),
    };
    let (mut sink, mut stream) = pubsub.split();
    if let Err(error) = shared.bounded(sink.subscribe(&shared.channel)).await {
        return (error, false);
    }
    // Subscribed first, then read everything: nothing published in between is missed.
    let changed = match shared.resync(manager).await {
        Ok(changed) => changed,
        Err(error) => return (error, false),
    };
    if let Err(error) = shared.replay(manager).await {
        return (error, false);
    }
    shared.health.confirm();
    *backoff = MIN_BACKOFF;
    let first = !*synced.borrow();
    if first {
        synced.send_replace(true);
    } else {
        tracing::info!(target: "sealed_session", reason = "store_resynced", changed, "Redis subscription back; mirror resynced");
    }
    let mut probe = tokio::time::interval(shared.settings.probe_every);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut resync = tokio::time::interval(shared.settings.resync_every);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Both fire at once on their first tick: skip it (we have just synced).
    probe.tick().await;
    resync.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return ("subscription closed".to_owned(), true);
                };
                apply(shared, &message);
            }
            _ = probe.tick() => {
                // An answer on the subscription proves every message published before it has
                // been received.
                if let Err(error) = shared.bounded(sink.ping::<redis::Value>()).await {
                    return (error, true);
                }
                shared.health.confirm();
            }
            _ = resync.tick() => {
                if let Err(error) = shared.resync(manager).await {
                    return (error, true);
                }
                if let Err(error) = shared.replay(manager).await {
                    return (error, true);
                }
            }
        }
    }
}

fn apply(shared: &Shared, message: &redis::Msg) {
    let entry = std::str::from_utf8(message.get_payload_bytes())
        .ok()
        .and_then(wire::read_message);
    let Some(entry) = entry else {
        tracing::warn!(target: "sealed_session", reason = "store_corrupt", "unreadable revocation message skipped");
        return;
    };
    if let Err(error) = shared.local.apply(&entry, shared.now_ms()) {
        tracing::error!(target: "sealed_session", reason = "store_full", %error, "revocation not mirrored");
    }
}
