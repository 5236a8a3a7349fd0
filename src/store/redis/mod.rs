//! [`RedisStore`]: one set of revocations for many instances, through Redis.
//!
//! Each instance keeps a **local mirror** of the live revocations, and the request path reads
//! only the mirror ([`RevocationStore::check`] makes no network call). The mirror is:
//!
//! - **filled at start-up**: [`RedisStoreBuilder::connect`] returns once the mirror holds every
//!   revocation in Redis (`SCAN` over the store's prefix);
//! - **kept current through pub/sub**: every write publishes its entry on the channel
//!   `<prefix>events`, and every instance applies it as it arrives (sub-millisecond on a local
//!   network; see BENCHMARKS.md for the measured distribution);
//! - **repaired by a resync**: pub/sub is fire-and-forget, so a subscriber that was disconnected
//!   misses messages. The subscriber knows when it was: after every reconnect it subscribes
//!   first, then re-reads the whole prefix, so nothing published in between is lost; a periodic
//!   resync (every 30 seconds by default) repairs anything else (a write whose `PUBLISH` was
//!   lost). Resyncs merge: an entry applied idempotently twice changes nothing, and a later time
//!   wins, so a revocation written here during an outage is never undone by a snapshot.
//!
//! Why pub/sub and not streams or keyspace notifications: keyspace notifications need server
//! configuration (`notify-keyspace-events`) and carry no value; a stream needs a reader cursor
//! per instance and its own trimming policy, and a blocked `XREAD` holds a connection as a
//! subscription does. Every fact is already a key with a TTL, so a full re-read is the natural
//! repair, and pub/sub is then only the fast path.
//!
//! **Writes** go to the mirror and to Redis at once (a Lua script sets the key with its TTL, if
//! it is not older than the one there, and publishes it). When Redis cannot be reached in time,
//! the write still holds on this instance, is logged (`tracing` error, reason
//! `store_unavailable`), kept in a bounded queue (1,024 writes; past it, dropped and said so) to
//! be sent again after reconnecting, and the caller gets [`StoreError::Unavailable`].
//!
//! **When Redis is unreachable**, the subscriber reconnects on its own (backing off up to two
//! seconds), and sessions are answered by the [`FailMode`]: by default
//! [`FailMode::Closed`] (10 seconds): once the mirror has not been confirmed for that long,
//! [`check`](RevocationStore::check) answers [`Standing::Unavailable`] (503 with `Retry-After`)
//! for every session it does not already know as revoked; [`FailMode::ServeStale`] keeps
//! answering from the last mirror. The mirror is confirmed by a `PING` on the subscription every
//! second: an answer proves every message published before it was received.
//!
//! Every call to Redis is bounded by a timeout (500 ms by default), so a slow or paused Redis
//! delays a write or a resync by at most that, never a request. Keys never go to Redis: it holds
//! session ids, uids, digests and times, each with a TTL equal to what it protects.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), sealed_session::store::StoreError> {
//! use sealed_session::store::{FailMode, RedisStore, RevocationStore};
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379/")?
//!     .with_prefix("myapp:revoked:")
//!     .with_fail_mode(FailMode::Closed { after: std::time::Duration::from_secs(10) })
//!     .connect()
//!     .await?;
//! store.log_out_user("alice", time::OffsetDateTime::now_utc()).await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use time::{Duration, OffsetDateTime};

use super::local::{Entry, Local};
use super::memory::user_entry;
use super::{
    duration_ms, unix_ms, ActiveSession, FailMode, RevocationStore, Standing, StoreError,
    StoreWrite, TokenListener, DEFAULT_ACTIVE_PER_USER, DEFAULT_MAX_SESSION_LIFE,
    DEFAULT_STORE_CAPACITY, DEFAULT_TOKEN_MARK_TTL,
};
use crate::clock::{Clock, ClockSource};
use crate::key::sha256;
use crate::record::SessionId;

mod sync;
mod wire;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "sealed-session:";
/// Most writes kept to be sent again after reconnecting.
pub const REPLAY_CAPACITY: usize = 1024;

/// Sets the key, unless the one there is newer, and publishes the entry.
/// KEYS: key. ARGV: order, value, ttl (ms), channel, message.
const WRITE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local order = tonumber(string.match(current, '^%-?%d+'))
  if order and order > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// Adds or updates an active session; drops expired ones and the ones created first past the
/// bound; the hash lives as long as its longest entry.
/// KEYS: hash. ARGV: session id, value, now (ms), most per user.
const TOUCH: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local now = tonumber(ARGV[3])
local live = {}
local last = 0
for i = 1, #all, 2 do
  local created, expires = string.match(all[i + 1], '^(%-?%d+) %-?%d+ (%-?%d+)')
  created = tonumber(created)
  expires = tonumber(expires)
  if not expires or expires <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    table.insert(live, {all[i], created, expires})
  end
end
table.sort(live, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local over = #live - tonumber(ARGV[4])
for i = 1, #live do
  if i <= over then
    redis.call('HDEL', KEYS[1], live[i][1])
  elseif live[i][3] > last then
    last = live[i][3]
  end
end
if last > 0 then redis.call('PEXPIREAT', KEYS[1], last) end
return #live
";

/// Removes an active session and returns its value.
/// KEYS: hash. ARGV: session id.
const END: &str = r"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then redis.call('HDEL', KEYS[1], ARGV[1]) end
return value
";

/// Builds a [`RedisStore`]. See the [module docs](self).
#[must_use]
pub struct RedisStoreBuilder {
    client: redis::Client,
    settings: Settings,
    connect_timeout: StdDuration,
    capacity: usize,
}

#[derive(Clone)]
struct Settings {
    prefix: String,
    fail_mode: FailMode,
    timeout: StdDuration,
    probe_every: StdDuration,
    resync_every: StdDuration,
    active_per_user: usize,
    max_session_life: Duration,
    token_mark_ttl: Duration,
    clock: ClockSource,
}

impl fmt::Debug for RedisStoreBuilder {
    /// Settings only: the URL may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.settings.prefix)
            .field("fail_mode", &self.settings.fail_mode)
            .field("timeout", &self.settings.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The key prefix (and the channel `<prefix>events`). Default `sealed-session:`. Instances
    /// that share revocations use the same prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// What sessions get while Redis is unreachable. Default [`FailMode::Closed`] after 10
    /// seconds (never less than twice the probe interval plus the timeout).
    pub fn with_fail_mode(mut self, mode: FailMode) -> Self {
        self.settings.fail_mode = mode;
        self
    }

    /// The longest any call to Redis may take. Default 500 ms.
    pub fn with_timeout(mut self, timeout: StdDuration) -> Self {
        self.settings.timeout = timeout.max(StdDuration::from_millis(1));
        self
    }

    /// How long [`connect`](Self::connect) waits for the first full sync. Default 5 seconds.
    pub fn with_connect_timeout(mut self, timeout: StdDuration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often the subscription is pinged to confirm the mirror. Default 1 second.
    pub fn with_probe_interval(mut self, every: StdDuration) -> Self {
        self.settings.probe_every = every.max(StdDuration::from_millis(10));
        self
    }

    /// How often the whole mirror is re-read from Redis. Default 30 seconds.
    pub fn with_resync_interval(mut self, every: StdDuration) -> Self {
        self.settings.resync_every = every.max(StdDuration::from_millis(100));
        self
    }

    /// The most revocations mirrored. Default 100,000.
    pub fn with_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries.max(1);
        self
    }

    /// The most active sessions listed per user. Default 32.
    pub fn with_active_per_user(mut self, sessions: usize) -> Self {
        self.settings.active_per_user = sessions.max(1);
        self
    }

    /// How long a not-before time is kept: at least the layer's max age. Default 30 days.
    pub fn with_max_session_life(mut self, life: Duration) -> Self {
        self.settings.max_session_life = life;
        self
    }

    /// How long a token invalidation is kept: at least the longest `TokenCache` TTL. Default
    /// 1 hour.
    pub fn with_token_mark_ttl(mut self, ttl: Duration) -> Self {
        self.settings.token_mark_ttl = ttl;
        self
    }

    /// The clock entry times and TTLs are read from. Default the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = ClockSource::custom(clock);
        self
    }

    /// Connects, subscribes, fills the mirror, and starts the task that keeps it current.
    /// Must run inside a Tokio runtime; the task ends when the last clone of the store is
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when Redis cannot be reached, or the first sync does not
    /// complete, within the connect timeout.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let Self {
            client,
            mut settings,
            connect_timeout,
            capacity,
        } = self;
        if let FailMode::Closed { after } = settings.fail_mode {
            let least = settings.probe_every * 2 + settings.timeout;
            settings.fail_mode = FailMode::Closed {
                after: after.max(least),
            };
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(2)
            .set_max_delay(StdDuration::from_secs(1));
        let manager = match tokio::time::timeout(
            connect_timeout,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        {
            Ok(Ok(manager)) => manager,
            Ok(Err(error)) => return Err(unavailable(&error.to_string())),
            Err(_) => return Err(unavailable("connect timed out")),
        };
        let shared = Arc::new(Shared {
            local: Local::new(capacity),
            health: Health::new(),
            pending: Mutex::new(VecDeque::new()),
            write: redis::Script::new(WRITE),
            channel: format!("{}events", settings.prefix),
            settings,
        });
        let (synced, mut first) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(sync::run(shared.clone(), client, manager.clone(), synced));
        let task = task.abort_handle();
        let waited = tokio::time::timeout(connect_timeout, first.wait_for(|synced| *synced)).await;
        if !matches!(waited, Ok(Ok(_))) {
            task.abort();
            return Err(unavailable("the first sync did not complete in time"));
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                shared,
                manager,
                touch: redis::Script::new(TOUCH),
                end: redis::Script::new(END),
                task,
            }),
        })
    }
}

fn unavailable(message: &str) -> StoreError {
    StoreError::Unavailable {
        message: message.to_owned(),
        queued: false,
    }
}

/// The revocation store shared by many instances through Redis. See the [module docs](self).
///
/// Clones share one mirror and one connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    manager: ConnectionManager,
    touch: redis::Script,
    end: redis::Script,
    task: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        f.debug_struct("RedisStore")
            .field("prefix", &shared.settings.prefix)
            .field("mirror", &shared.local)
            .field("mirror_age", &shared.health.age())
            .field("fail_mode", &shared.settings.fail_mode)
            .finish_non_exhaustive()
    }
}

/// What the store and its sync task share.
struct Shared {
    local: Local,
    health: Health,
    /// Writes that did not reach Redis, to send again after reconnecting. Bounded.
    pending: Mutex<VecDeque<Entry>>,
    write: redis::Script,
    channel: String,
    settings: Settings,
}

/// When the mirror was last confirmed complete.
struct Health {
    base: Instant,
    /// Milliseconds after `base`; negative: never.
    confirmed: AtomicI64,
}

impl Health {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            confirmed: AtomicI64::new(-1),
        }
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn confirm(&self) {
        self.confirmed.store(self.elapsed_ms(), Ordering::SeqCst);
    }

    /// Time since the mirror was last confirmed; `None` before the first sync.
    fn age(&self) -> Option<StdDuration> {
        let confirmed = self.confirmed.load(Ordering::SeqCst);
        let age = self
            .elapsed_ms()
            .checked_sub(confirmed)
            .filter(|_| confirmed >= 0)?;
        Some(StdDuration::from_millis(u64::try_from(age).unwrap_or(0)))
    }
}

impl Shared {
    fn now_ms(&self) -> i64 {
        let nanos = self.settings.clock.unix_nanos();
        i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.settings.prefix)
    }

    /// Bounds a call to Redis by the timeout.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.settings.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.settings.timeout.as_millis()
            )),
        }
    }

    /// Writes `entry` to Redis and publishes it.
    async fn send(
        &self,
        manager: &ConnectionManager,
        entry: &Entry,
        now: i64,
    ) -> Result<(), String> {
        let written = wire::write(entry);
        let ttl = entry.until().saturating_sub(now).max(1);
        let mut conn = manager.clone();
        let mut call = self.write.key(self.key(&written.key));
        call.arg(written.order)
            .arg(&written.value)
            .arg(ttl)
            .arg(&self.channel)
            .arg(wire::message(&written));
        self.bounded(call.invoke_async::<i64>(&mut conn))
            .await
            .map(drop)
    }

    /// Keeps `entry` to send again after reconnecting; `false` when the queue is full.
    fn queue(&self, entry: Entry) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= REPLAY_CAPACITY {
            return false;
        }
        pending.push_back(entry);
        true
    }

    /// Sends the queued writes; stops at the first failure, keeping the rest.
    async fn replay(&self, manager: &ConnectionManager) -> Result<usize, String> {
        let mut sent = 0;
        for _ in 0..=REPLAY_CAPACITY {
            let next = self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(entry) = next else { break };
            let now = self.now_ms();
            if entry.until() <= now {
                continue;
            }
            if let Err(error) = self.send(manager, &entry, now).await {
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_front(entry);
                return Err(error);
            }
            sent += 1;
        }
        Ok(sent)
    }

    /// Re-reads every revocation under the prefix and merges it into the mirror. Returns how
    /// many entries changed the mirror.
    async fn resync(&self, manager: &ConnectionManager) -> Result<usize, String> {
        /// Keys asked per `SCAN` round, and bound on the rounds (SCAN ends; this is a guard).
        const COUNT: usize = 1000;
        const MAX_ROUNDS: usize = 100_000;
        let mut conn = manager.clone();
        let pattern = wire::scan_pattern(&self.settings.prefix);
        let prefix = self.settings.prefix.as_bytes();
        let mut cursor: u64 = 0;
        let mut changed = 0;
        for _ in 0..MAX_ROUNDS {
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .bounded(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(COUNT)
                        .query_async(&mut conn),
                )
                .await?;
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|key| {
                    key.strip_prefix(prefix).is_some_and(|rest| {
                        rest == b"g"
                            || [&b"d:"[..], b"u:", b"t:", b"tu:", b"r:"]
                                .iter()
                                .any(|k| rest.starts_with(k))
                    })
                })
                .collect();
            if !keys.is_empty() {
                let values: Vec<Option<Vec<u8>>> = self
                    .bounded(redis::cmd("MGET").arg(&keys).query_async(&mut conn))
                    .await?;
                let now = self.now_ms();
                for (key, value) in keys.iter().zip(values) {
                    // Gone between SCAN and MGET: expired.
                    let Some(value) = value else { continue };
                    let rest = key.get(prefix.len()..).unwrap_or_default();
                    let entry = std::str::from_utf8(rest)
                        .ok()
                        .zip(std::str::from_utf8(&value).ok())
                        .and_then(|(key, value)| wire::read(key, value));
                    match entry.map(|entry| self.local.apply(&entry, now)) {
                        Some(Ok(true)) => changed += 1,
                        Some(Ok(false)) => {}
                        Some(Err(error)) => {
                            tracing::error!(target: "sealed_session", reason = "store_full", %error, "revocation not mirrored");
                        }
                        None => {
                            tracing::warn!(target: "sealed_session", reason = "store_corrupt", "unreadable revocation entry in Redis skipped");
                        }
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                self.local.purge(self.now_ms());
                return Ok(changed);
            }
        }
        Err("resync did not finish".to_owned())
    }
}

impl RedisStore {
    /// A builder for the Redis at `url` (`redis://[user:password@]host:port/[db]`, or
    /// `rediss://` with a TLS feature of the `redis` crate).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the URL cannot be parsed (nothing is connected yet).
    pub fn builder(url: &str) -> Result<RedisStoreBuilder, StoreError> {
        let client = redis::Client::open(url).map_err(|_| unavailable("not a Redis URL"))?;
        Ok(RedisStoreBuilder {
            client,
            settings: Settings {
                prefix: DEFAULT_PREFIX.to_owned(),
                fail_mode: FailMode::default(),
                timeout: StdDuration::from_millis(500),
                probe_every: StdDuration::from_secs(1),
                resync_every: StdDuration::from_secs(30),
                active_per_user: DEFAULT_ACTIVE_PER_USER,
                max_session_life: DEFAULT_MAX_SESSION_LIFE,
                token_mark_ttl: DEFAULT_TOKEN_MARK_TTL,
                clock: ClockSource::default(),
            },
            connect_timeout: StdDuration::from_secs(5),
            capacity: DEFAULT_STORE_CAPACITY,
        })
    }

    /// How long ago the mirror was last confirmed complete (`None` if never). Below the
    /// fail-closed bound in normal operation: about the probe interval.
    #[must_use]
    pub fn mirror_age(&self) -> Option<StdDuration> {
        self.inner.shared.health.age()
    }

    /// The number of writes waiting to be sent to Redis again.
    #[must_use]
    pub fn queued_writes(&self) -> usize {
        self.inner
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The number of revocations in the local mirror (expired ones until purged).
    #[must_use]
    pub fn mirrored(&self) -> usize {
        self.inner.shared.local.len()
    }

    /// Applies `entry` to the mirror now; the returned write sends it to Redis.
    fn write(&self, entry: Entry) -> StoreWrite {
        let shared = &self.inner.shared;
        let now = shared.now_ms();
        if let Err(error) = shared.local.apply(&entry, now) {
            return StoreWrite::ready(Err(error));
        }
        if entry.until() <= now {
            return StoreWrite::ready(Ok(()));
        }
        let inner = self.inner.clone();
        StoreWrite::sharing(async move {
            let shared = &inner.shared;
            match shared.send(&inner.manager, &entry, now).await {
                Ok(()) => Ok(()),
                Err(message) => {
                    let queued = shared.queue(entry);
                    tracing::error!(target: "sealed_session", reason = "store_unavailable", queued, error = %message, "revocation not written to Redis; it holds on this instance");
                    Err(StoreError::Unavailable { message, queued })
                }
            }
        })
    }

    fn read_error(message: String) -> StoreError {
        tracing::warn!(target: "sealed_session", reason = "store_unavailable", error = %message, "Redis read failed");
        StoreError::Unavailable {
            message,
            queued: false,
        }
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    fn check(&self, id: &SessionId, uid: Option<&str>, created_ms: i64) -> Standing {
        let shared = &self.inner.shared;
        if let Some(by) = shared.local.check(id, uid, created_ms) {
            return Standing::Revoked(by);
        }
        match shared.settings.fail_mode {
            FailMode::Closed { after } => match shared.health.age() {
                Some(age) if age <= after => Standing::Live,
                _ => Standing::Unavailable {
                    retry_after: shared.settings.probe_every.max(StdDuration::from_secs(1)),
                },
            },
            FailMode::ServeStale => Standing::Live,
        }
    }

    fn deny_session(&self, id: SessionId, until: OffsetDateTime) -> StoreWrite {
        self.write(Entry::Denied {
            id,
            until: unix_ms(until),
        })
    }

    fn log_out_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        let life = self.inner.shared.settings.max_session_life;
        self.write(user_entry(uid, at, None, life))
    }

    fn log_out_other_sessions(&self, uid: &str, keep: SessionId, at: OffsetDateTime) -> StoreWrite {
        let life = self.inner.shared.settings.max_session_life;
        self.write(user_entry(uid, at, Some(keep), life))
    }

    fn log_out_everyone(&self, at: OffsetDateTime) -> StoreWrite {
        let at = unix_ms(at);
        let life = duration_ms(self.inner.shared.settings.max_session_life);
        self.write(Entry::Everyone {
            at,
            until: at.saturating_add(life),
        })
    }

    fn recheck_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        let at = unix_ms(at);
        let life = duration_ms(self.inner.shared.settings.max_session_life);
        self.write(Entry::Recheck {
            uid: uid.to_owned(),
            at,
            until: at.saturating_add(life),
        })
    }

    fn recheck_due(&self, uid: &str, checked_ms: i64) -> bool {
        self.inner.shared.local.recheck_due(uid, checked_ms)
    }

    fn record_active(&self, uid: &str, session: ActiveSession) -> StoreWrite {
        let inner = self.inner.clone();
        let key = inner.shared.key(&format!("a:{uid}"));
        StoreWrite::sharing(async move {
            let shared = &inner.shared;
            let mut conn = inner.manager.clone();
            let mut call = inner.touch.key(key);
            call.arg(session.id.to_string())
                .arg(wire::active_value(&session))
                .arg(shared.now_ms())
                .arg(shared.settings.active_per_user);
            shared
                .bounded(call.invoke_async::<i64>(&mut conn))
                .await
                .map(drop)
                .map_err(Self::read_error)
        })
    }

    async fn active_sessions(&self, uid: &str) -> Result<Vec<ActiveSession>, StoreError> {
        let shared = &self.inner.shared;
        let mut conn = self.inner.manager.clone();
        let all: Vec<(String, String)> = shared
            .bounded(
                redis::cmd("HGETALL")
                    .arg(shared.key(&format!("a:{uid}")))
                    .query_async(&mut conn),
            )
            .await
            .map_err(Self::read_error)?;
        let now = shared.now_ms();
        let mut sessions: Vec<ActiveSession> = all
            .iter()
            .filter_map(|(field, value)| wire::read_active(field, value))
            .filter(|s| s.expires_ms > now)
            .collect();
        sessions.sort_by_key(|s| (s.created_ms, *s.id.as_bytes()));
        Ok(sessions)
    }

    async fn end_session(&self, uid: &str, id: SessionId) -> Result<bool, StoreError> {
        let shared = &self.inner.shared;
        let mut conn = self.inner.manager.clone();
        let mut call = self.inner.end.key(shared.key(&format!("a:{uid}")));
        call.arg(id.to_string());
        let removed = shared
            .bounded(call.invoke_async::<Option<String>>(&mut conn))
            .await;
        let listed = match &removed {
            Ok(value) => value
                .as_deref()
                .and_then(|value| wire::read_active(&id.to_string(), value)),
            Err(_) => None,
        };
        let now = shared.now_ms();
        let until = listed.as_ref().map_or_else(
            || now.saturating_add(duration_ms(shared.settings.max_session_life)),
            |s| s.expires_ms,
        );
        // Denied even when the list could not be read: ending a session never waits on it.
        self.write(Entry::Denied { id, until }).await?;
        removed.map_err(Self::read_error)?;
        Ok(listed.is_some())
    }

    fn invalidate_token(&self, digest: [u8; 32]) -> StoreWrite {
        let shared = &self.inner.shared;
        let at = shared.now_ms();
        self.write(Entry::Token {
            digest,
            at,
            until: at.saturating_add(duration_ms(shared.settings.token_mark_ttl)),
        })
    }

    fn invalidate_user_tokens(&self, uid: &str) -> StoreWrite {
        let shared = &self.inner.shared;
        let at = shared.now_ms();
        self.write(Entry::UserTokens {
            uid: uid.to_owned(),
            at,
            until: at.saturating_add(duration_ms(shared.settings.token_mark_ttl)),
        })
    }

    async fn use_once(&self, key: &[u8], lives_for: Duration) -> Result<bool, StoreError> {
        let shared = &self.inner.shared;
        let mut conn = self.inner.manager.clone();
        let key = shared.key(&format!("o:{}", wire::hex(&sha256(key))));
        let set: Option<String> = shared
            .bounded(
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(duration_ms(lives_for).max(1))
                    .query_async(&mut conn),
            )
            .await
            .map_err(Self::read_error)?;
        Ok(set.is_some())
    }

    fn on_token_invalidation(&self, listener: TokenListener) {
        self.inner.shared.local.listen(listener);
    }
}
