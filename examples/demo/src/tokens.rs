//! Personal access tokens and role-account tokens, stored as SHA-256 digests in SQLite, and the
//! [`TokenHandler`] that resolves them (wrapped in the crate's [`TokenCache`] by the app).
//!
//! A token is `demo_pat_` followed by 32 random bytes in base64url: 256 bits, so a fast digest
//! is enough (no per-token salt or slow hash is needed, unlike passwords). The token is shown
//! once, when it is created; the database keeps its digest, name, scopes and times.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use rusqlite::{params, OptionalExtension as _};
use sealed_session::{
    async_trait, ApiKeys, Clock, Identity, SystemClock, TokenCache, TokenError, TokenHandler,
};
use time::{Duration, OffsetDateTime};

use crate::store::{join_words, split_words, Db, DbError};

/// Every token starts with this, so secret scanners can find leaked ones.
pub(crate) const PREFIX: &str = "demo_pat_";

/// The lifetimes the token form offers.
pub(crate) const LIFETIMES: &[(&str, Duration)] = &[
    ("1 hour", Duration::hours(1)),
    ("1 day", Duration::days(1)),
    ("7 days", Duration::days(7)),
    ("30 days", Duration::days(30)),
    ("90 days", Duration::days(90)),
];

/// A token's row, without its digest.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) created_by: String,
}

impl TokenRow {
    /// `active`, `expired` or `revoked` at `now` (Unix s).
    pub(crate) fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if now >= self.expires_at {
            "expired"
        } else {
            "active"
        }
    }
}

/// A token to create.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub(crate) uid: String,
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) lifetime: Duration,
    pub(crate) created_by: String,
}

/// A fresh token. Never logged; shown to its owner once.
pub(crate) fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Checks a token name from a form: 1 to 64 characters, no control characters.
pub(crate) fn valid_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("A token name has 1 to 64 characters, without control characters.".into());
    }
    Ok(name.to_owned())
}

/// Stores a new token's digest and returns its id and the token (the only time it exists).
pub(crate) async fn create(
    db: &Db,
    new: NewToken,
    now: OffsetDateTime,
) -> Result<(i64, String), DbError> {
    let token = generate();
    let digest = ApiKeys::digest(&token);
    let created = now.unix_timestamp();
    let expires = (now + new.lifetime).unix_timestamp();
    let id = db
        .call(move |conn| {
            conn.execute(
                "INSERT INTO tokens (uid, name, digest, scopes, created_at, expires_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    new.uid,
                    new.name,
                    &digest[..],
                    join_words(&new.scopes),
                    created,
                    expires,
                    new.created_by
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await?;
    Ok((id, token))
}

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scopes: split_words(&r.get::<_, String>(2)?),
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
        created_by: r.get(6)?,
    })
}

const TOKEN_COLUMNS: &str = "id, name, scopes, created_at, expires_at, revoked_at, created_by";

/// `uid`'s tokens, newest first.
pub(crate) async fn list(db: &Db, uid: String) -> Result<Vec<TokenRow>, DbError> {
    db.call(move |conn| {
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE uid = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt
            .query_map([uid], row_to_token)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
    .await
}

/// Revokes token `id` of `uid` and drops it from the cache at once, so the very next request
/// with it is refused. Returns whether a live token was revoked.
pub(crate) async fn revoke(
    db: &Db,
    cache: &TokenCache,
    uid: String,
    id: i64,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let at = now.unix_timestamp();
    let digest: Option<Vec<u8>> = db
        .call(move |conn| {
            let digest = conn
                .query_row(
                    "UPDATE tokens SET revoked_at = ?3
                     WHERE id = ?1 AND uid = ?2 AND revoked_at IS NULL RETURNING digest",
                    params![id, uid, at],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(digest)
        })
        .await?;
    let Some(digest) = digest.and_then(|d| <[u8; 32]>::try_from(d).ok()) else {
        return Ok(false);
    };
    cache.invalidate_digest(&digest).await;
    Ok(true)
}

/// Revokes `uid`'s live tokens named `name` (the demo's start-up token, replaced at each start).
pub(crate) fn revoke_named_blocking(
    db: &Db,
    uid: &str,
    name: &str,
    now: OffsetDateTime,
) -> Result<usize, DbError> {
    db.call_blocking(|conn| {
        Ok(conn.execute(
            "UPDATE tokens SET revoked_at = ?3 WHERE uid = ?1 AND name = ?2 AND revoked_at IS NULL",
            params![uid, name, now.unix_timestamp()],
        )?)
    })
}

/// Deletes tokens that expired or were revoked before `now`. Returns how many.
pub(crate) async fn purge(db: &Db, now: OffsetDateTime) -> Result<usize, DbError> {
    let now = now.unix_timestamp();
    db.call(move |conn| {
        Ok(conn.execute(
            "DELETE FROM tokens WHERE revoked_at IS NOT NULL OR expires_at <= ?1",
            [now],
        )?)
    })
    .await
}

/// Resolves bearer tokens against the tokens table.
///
/// The lookup is by digest (an indexed equality on a SHA-256 value, which a caller cannot steer
/// byte by byte). A revoked or expired token is unknown (401 `invalid_token`); a database
/// failure is a [`TokenError`] (503, never "anonymous"). The identity carries the token's scopes
/// and the account's role-account flag, not the account's roles: a token can do what its scopes
/// say, nothing more.
#[derive(Clone)]
pub(crate) struct TokenStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenStore")
    }
}

impl TokenStore {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
        }
    }

    pub(crate) fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

#[async_trait]
impl TokenHandler for TokenStore {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let digest = ApiKeys::digest(token);
        let found = self
            .db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT t.uid, t.scopes, t.expires_at, t.revoked_at, u.role_account
                         FROM tokens t JOIN users u ON u.uid = t.uid WHERE t.digest = ?1",
                        [&digest[..]],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, i64>(2)?,
                                r.get::<_, Option<i64>>(3)?,
                                r.get::<_, bool>(4)?,
                            ))
                        },
                    )
                    .optional()?)
            })
            .await
            .map_err(|e| TokenError::new(e.to_string()))?;
        let Some((uid, scopes, expires, revoked, role_account)) = found else {
            return Ok(None);
        };
        let now = self.clock.now().unix_timestamp();
        if revoked.is_some() || now >= expires {
            return Ok(None);
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(expires)
            .map_err(|_| TokenError::new("a token's expiry is out of range"))?;
        Ok(Some(
            Identity::new(uid)
                .with_role_account(role_account)
                .with_scopes(split_words(&scopes))
                .with_expires_at(expires_at),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts;
    use crate::testdir::TestDir;
    use sealed_session::testing::ManualClock;
    use time::macros::datetime;

    fn setup(dir: &TestDir) -> (Db, ManualClock, TokenCache) {
        let db = Db::open(&dir.path().join("db.sqlite3")).unwrap();
        db.call_blocking(accounts::seed).unwrap();
        let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
        let cache = TokenCache::new(TokenStore::new(db.clone()).with_clock(clock.clone()))
            .with_ttl(Duration::minutes(5));
        (db, clock, cache)
    }

    fn bob_token(scopes: &[&str], lifetime: Duration) -> NewToken {
        NewToken {
            uid: "bob".into(),
            name: "laptop".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            lifetime,
            created_by: "bob".into(),
        }
    }

    #[tokio::test]
    async fn only_the_digest_is_stored_and_it_resolves_to_the_tokens_scopes() {
        let dir = TestDir::new("tokens-store");
        let (db, clock, cache) = setup(&dir);
        let (_, token) = create(
            &db,
            bob_token(&["builds:read"], Duration::days(1)),
            clock.now(),
        )
        .await
        .unwrap();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 43);

        let (digest, dump): (Vec<u8>, String) = db
            .call_blocking(|c| {
                let digest = c.query_row("SELECT digest FROM tokens", [], |r| r.get(0))?;
                let dump = c.query_row(
                    "SELECT group_concat(uid || name || scopes || created_by) FROM tokens",
                    [],
                    |r| r.get(0),
                )?;
                Ok((digest, dump))
            })
            .unwrap();
        assert_eq!(digest, ApiKeys::digest(&token));
        assert!(!dump.contains(&token));
        let file = std::fs::read(dir.path().join("db.sqlite3")).unwrap();
        let wal = std::fs::read(dir.path().join("db.sqlite3-wal")).unwrap_or_default();
        for bytes in [file, wal] {
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
        }

        let who = cache.resolve(&token).await.unwrap().unwrap();
        assert_eq!(who.uid(), Some("bob"));
        assert!(!who.is_role_account());
        assert!(who.roles().is_empty(), "a token carries scopes, not roles");
        assert_eq!(who.metadata()["scope"], serde_json::json!(["builds:read"]));
        assert_eq!(who.expires_at(), Some(clock.now() + Duration::days(1)));
        assert!(cache.resolve("demo_pat_unknown").await.unwrap().is_none());
        assert!(cache.resolve("not-ours").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn revocation_takes_effect_at_once_through_the_cache() {
        let dir = TestDir::new("tokens-revoke");
        let (db, clock, cache) = setup(&dir);
        let (id, token) = create(&db, bob_token(&[], Duration::days(1)), clock.now())
            .await
            .unwrap();
        assert!(cache.resolve(&token).await.unwrap().is_some());
        // Revoked behind the cache's back: the cached entry still answers...
        db.call_blocking(|c| Ok(c.execute("UPDATE tokens SET revoked_at = 1", [])?))
            .unwrap();
        assert!(cache.resolve(&token).await.unwrap().is_some(), "cached");
        db.call_blocking(|c| Ok(c.execute("UPDATE tokens SET revoked_at = NULL", [])?))
            .unwrap();
        // ...whereas `revoke` drops it.

        assert!(
            !revoke(&db, &cache, "alice".into(), id, clock.now())
                .await
                .unwrap(),
            "only the owner revokes"
        );
        assert!(cache.resolve(&token).await.unwrap().is_some());
        assert!(revoke(&db, &cache, "bob".into(), id, clock.now())
            .await
            .unwrap());
        assert!(
            cache.resolve(&token).await.unwrap().is_none(),
            "not served from the cache"
        );
        assert!(!revoke(&db, &cache, "bob".into(), id, clock.now())
            .await
            .unwrap());
        let rows = list(&db, "bob".into()).await.unwrap();
        assert_eq!(rows[0].status(clock.now().unix_timestamp()), "revoked");
    }

    #[tokio::test]
    async fn expired_tokens_are_unknown_and_purged() {
        let dir = TestDir::new("tokens-expiry");
        let (db, clock, cache) = setup(&dir);
        let (_, token) = create(&db, bob_token(&[], Duration::hours(1)), clock.now())
            .await
            .unwrap();
        let (_, long) = create(&db, bob_token(&[], Duration::days(7)), clock.now())
            .await
            .unwrap();
        clock.advance(Duration::minutes(59));
        assert!(TokenStore::new(db.clone())
            .with_clock(clock.clone())
            .resolve(&token)
            .await
            .unwrap()
            .is_some());
        clock.advance(Duration::minutes(1));
        let store = TokenStore::new(db.clone()).with_clock(clock.clone());
        assert!(
            store.resolve(&token).await.unwrap().is_none(),
            "expired at its end"
        );
        let rows = list(&db, "bob".into()).await.unwrap();
        let now = clock.now().unix_timestamp();
        assert_eq!(
            rows.iter().map(|r| r.status(now)).collect::<Vec<_>>(),
            ["active", "expired"]
        );
        assert_eq!(purge(&db, clock.now()).await.unwrap(), 1);
        assert!(cache.resolve(&long).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn role_account_tokens_say_so() {
        let dir = TestDir::new("tokens-role");
        let (db, clock, cache) = setup(&dir);
        let new = NewToken {
            uid: accounts::ROLE_ACCOUNT.into(),
            name: "deploys".into(),
            scopes: vec!["builds:write".into()],
            lifetime: Duration::days(30),
            created_by: "alice".into(),
        };
        let (_, token) = create(&db, new, clock.now()).await.unwrap();
        let who = cache.resolve(&token).await.unwrap().unwrap();
        assert_eq!(who.uid(), Some("ci-bot"));
        assert!(who.is_role_account());
        let rows = list(&db, "ci-bot".into()).await.unwrap();
        assert_eq!(rows[0].created_by, "alice");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(valid_name("  laptop ").unwrap(), "laptop");
        assert!(valid_name("").is_err());
        assert!(valid_name("a\nb").is_err());
        assert!(valid_name(&"x".repeat(65)).is_err());
    }
}
