//! The embedded SQLite database: one connection behind a mutex, used from blocking threads.
//!
//! SQLite calls block, so every query runs in [`tokio::task::spawn_blocking`] through
//! [`Db::call`]; the async request handlers never block a runtime thread on the disk.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

/// The schema, applied on every start (each statement is idempotent).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    uid          TEXT PRIMARY KEY,
    -- an Argon2id PHC string; NULL for role accounts, which have no password
    password     TEXT,
    role_account INTEGER NOT NULL DEFAULT 0,
    roles        TEXT NOT NULL DEFAULT '',   -- space-separated
    groups_      TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '',
    -- 'log out everywhere': cookie sessions created before this time (Unix s) are refused
    not_before   INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    id           INTEGER PRIMARY KEY,
    uid          TEXT NOT NULL REFERENCES users(uid),
    name         TEXT NOT NULL,
    -- SHA-256 of the token: the token itself is shown once and never stored
    digest       BLOB NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    created_by   TEXT NOT NULL
);
";

/// A database failure. Its text may name tables and columns, never a token or a password.
#[derive(Debug)]
pub(crate) struct DbError(String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database error: {}", self.0)
    }
}

impl std::error::Error for DbError {}

impl DbError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

/// A handle on the database; clones share the connection.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies the schema.
    pub(crate) fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DbError(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        // WAL lets readers go on while a write is in progress; wait up to 5 s on a lock.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub(crate) async fn call<F, T>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError(format!("a database task failed: {e}")))?
    }

    /// Runs `f` with the connection on this thread (start-up and tests only).
    pub(crate) fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    }
}

/// `"a b"` from `["a", "b"]`.
pub(crate) fn join_words(words: &[String]) -> String {
    words.join(" ")
}

/// `["a", "b"]` from `"a b"`.
pub(crate) fn split_words(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_owned).collect()
}
