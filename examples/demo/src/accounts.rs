//! Local accounts: the users table, the seeded demo accounts, and Argon2id password hashes.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use rusqlite::{params, Connection, OptionalExtension as _};
use sealed_session::{Identity, NotBefore};
use time::OffsetDateTime;

use crate::store::{join_words, split_words, Db, DbError};

/// One seeded account: uid, password (`None`: a role account), roles, groups, scopes.
pub(crate) struct Seed {
    pub(crate) uid: &'static str,
    pub(crate) password: Option<&'static str>,
    pub(crate) roles: &'static [&'static str],
    pub(crate) groups: &'static [&'static str],
    pub(crate) scopes: &'static [&'static str],
}

/// The demo's accounts, created on first run and printed at every start. Demo credentials only:
/// the server listens on 127.0.0.1.
pub(crate) const SEEDS: &[Seed] = &[
    Seed {
        uid: "alice",
        password: Some("alice-demo-password"),
        roles: &["admin"],
        groups: &["maintainers"],
        scopes: &["builds:read", "builds:write"],
    },
    Seed {
        uid: "bob",
        password: Some("bob-demo-password"),
        roles: &[],
        groups: &["contributors"],
        scopes: &["builds:read"],
    },
    Seed {
        uid: "ci-bot",
        password: None,
        roles: &[],
        groups: &[],
        scopes: &["builds:read", "builds:write"],
    },
];

/// The role account the admin page mints tokens for.
pub(crate) const ROLE_ACCOUNT: &str = "ci-bot";

/// A row of the users table, without the password hash.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) uid: String,
    pub(crate) role_account: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) not_before: Option<i64>,
}

impl User {
    /// The identity a password login starts a session with.
    pub(crate) fn identity(&self) -> Identity {
        Identity::new(&self.uid)
            .with_role_account(self.role_account)
            .with_roles(self.roles.iter().cloned())
            .with_groups(self.groups.iter().cloned())
            .with_scopes(self.scopes.iter().cloned())
    }
}

/// Hashes a password with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).
pub(crate) fn hash_password(password: &str) -> Result<String, DbError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DbError::new(format!("password hashing failed: {e}")))
}

/// Whether `password` matches the stored hash. Without an account, a dummy hash is checked all
/// the same, so the answer takes as long for an unknown user as for a wrong password.
fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("no such user").unwrap_or_default());
    let known = stored.is_some();
    let Ok(hash) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok();
    known && matches
}

/// Creates the seeded accounts when the users table is empty. Returns whether it did.
pub(crate) fn seed(conn: &mut Connection) -> Result<bool, DbError> {
    let count: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    if count > 0 {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    for seed in SEEDS {
        let hash = seed.password.map(hash_password).transpose()?;
        let words = |w: &[&str]| w.join(" ");
        tx.execute(
            "INSERT INTO users (uid, password, role_account, roles, groups_, scopes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![seed.uid, hash, seed.password.is_none(), words(seed.roles), words(seed.groups), words(seed.scopes)],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        uid: r.get(0)?,
        role_account: r.get(1)?,
        roles: split_words(&r.get::<_, String>(2)?),
        groups: split_words(&r.get::<_, String>(3)?),
        scopes: split_words(&r.get::<_, String>(4)?),
        not_before: r.get(5)?,
    })
}

const USER_COLUMNS: &str = "uid, role_account, roles, groups_, scopes, not_before";

/// Checks a password login. `Ok(None)` for an unknown user, a role account or a wrong password
/// (the caller cannot tell which). Runs on a blocking thread: Argon2 takes tens of milliseconds.
pub(crate) async fn check_login(
    db: &Db,
    uid: String,
    password: String,
) -> Result<Option<User>, DbError> {
    db.call(move |conn| {
        let found = conn
            .query_row(
                &format!("SELECT {USER_COLUMNS}, password FROM users WHERE uid = ?1"),
                [&uid],
                |r| Ok((row_to_user(r)?, r.get::<_, Option<String>>(6)?)),
            )
            .optional()?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let ok = verify_password(&password, hash.as_deref());
        Ok(user.filter(|_| ok))
    })
    .await
}

/// Every account, for the admin page.
pub(crate) async fn all(db: &Db) -> Result<Vec<User>, DbError> {
    db.call(|conn| {
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY uid"))?;
        let users = stmt
            .query_map([], row_to_user)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(users)
    })
    .await
}

/// One account.
pub(crate) async fn find(db: &Db, uid: String) -> Result<Option<User>, DbError> {
    db.call(move |conn| {
        Ok(conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE uid = ?1"),
                [&uid],
                row_to_user,
            )
            .optional()?)
    })
    .await
}

/// "Log out everywhere": refuses `uid`'s cookie sessions created before `at`, now and after a
/// restart (the time is stored, and loaded into [`NotBefore`] at start).
pub(crate) async fn log_out_everywhere(
    db: &Db,
    not_before: &NotBefore,
    uid: String,
    at: OffsetDateTime,
) -> Result<(), DbError> {
    not_before.log_out_user(&uid, at);
    let secs = at.unix_timestamp();
    db.call(move |conn| {
        conn.execute(
            "UPDATE users SET not_before = max(coalesce(not_before, 0), ?2) WHERE uid = ?1",
            params![uid, secs],
        )?;
        Ok(())
    })
    .await
}

/// Loads the stored "log out everywhere" times into `not_before`.
pub(crate) fn load_not_before(db: &Db, not_before: &NotBefore) -> Result<usize, DbError> {
    let times: Vec<(String, i64)> = db.call_blocking(|conn| {
        let mut stmt =
            conn.prepare("SELECT uid, not_before FROM users WHERE not_before IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    for (uid, at) in &times {
        if let Ok(at) = OffsetDateTime::from_unix_timestamp(*at) {
            not_before.log_out_user(uid, at);
        }
    }
    Ok(times.len())
}

/// `"a b"` for a list of words, for display.
pub(crate) fn words(list: &[String]) -> String {
    if list.is_empty() {
        "(none)".to_owned()
    } else {
        join_words(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    #[tokio::test]
    async fn seeded_passwords_are_hashed_and_checked() {
        let dir = TestDir::new("accounts");
        let db = Db::open(&dir.path().join("db.sqlite3")).unwrap();
        assert!(db.call_blocking(seed).unwrap());
        assert!(!db.call_blocking(seed).unwrap(), "seeds once");
        let stored: String = db
            .call_blocking(|c| {
                Ok(
                    c.query_row("SELECT password FROM users WHERE uid = 'alice'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$"),
            "a PHC string, not the password"
        );
        assert!(!stored.contains("alice-demo-password"));

        let alice = check_login(&db, "alice".into(), "alice-demo-password".into())
            .await
            .unwrap()
            .expect("the seeded password works");
        assert_eq!(alice.roles, ["admin"]);
        for (uid, pw) in [
            ("alice", "wrong"),
            ("nobody", "alice-demo-password"),
            ("ci-bot", ""),
        ] {
            assert!(check_login(&db, uid.into(), pw.into())
                .await
                .unwrap()
                .is_none());
        }
    }
}
