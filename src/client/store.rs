//! [`FileStore`]: an optional file for the token set, created with mode 0600, that refuses a
//! stored set obtained for another provider, client id, scopes or audience (Bitfount's rule).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::{ClientError, OAuthClient, TokenSet};

/// The largest token file read.
const MAX_FILE: u64 = 1024 * 1024;

/// A token-set file for one client.
///
/// - [`save`](FileStore::save) writes a new file with mode 0600 (on Unix) and renames it over
///   the old one, so a crash never leaves half a file;
/// - [`load`](FileStore::load) refuses a file others can read (like ssh), and discards (deletes)
///   a set whose provider, client id, scopes (as a set) or audience differ from the client's.
///
/// The calls are blocking and small; from async code they are fine as they are, or in
/// `spawn_blocking`.
///
/// ```
/// use sealed_session::client::{FileStore, OAuthClient, TokenSet};
///
/// let dir = std::env::temp_dir().join(format!("store-doc-{}", std::process::id()));
/// let client = OAuthClient::new("https://id.example.org", "cli", "https://id.example.org/token")
///     .with_scopes(["openid"]);
/// let store = FileStore::new(dir.join("tokens.json"), &client);
/// let set = TokenSet::new("at", "https://id.example.org", "cli").with_scopes(["openid"]);
/// store.save(&set).unwrap();
/// assert_eq!(store.load().unwrap(), Some(set));
///
/// // Another scope: the stored set is discarded.
/// let other = FileStore::new(dir.join("tokens.json"), &client.clone().with_scopes(["admin"]));
/// assert_eq!(other.load().unwrap(), None);
/// assert!(!dir.join("tokens.json").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    provider: String,
    client_id: String,
    scopes: BTreeSet<String>,
    audience: Option<String>,
}

impl FileStore {
    /// A store at `path` for sets of `client` (its issuer, client id, scopes and audience).
    pub fn new(path: impl Into<PathBuf>, client: &OAuthClient) -> Self {
        Self {
            path: path.into(),
            provider: client.issuer().to_owned(),
            client_id: client.client_id().to_owned(),
            scopes: client.scopes().iter().cloned().collect(),
            audience: client.audience().map(str::to_owned),
        }
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `set` was obtained for this store's provider, client id, scopes and audience.
    #[must_use]
    pub fn matches(&self, set: &TokenSet) -> bool {
        set.provider() == self.provider
            && set.client_id() == self.client_id
            && set.scopes().iter().cloned().collect::<BTreeSet<_>>() == self.scopes
            && set.audience() == self.audience.as_deref()
    }

    /// Reads the stored set. `None` when there is none, when it is not a token set, or when it
    /// belongs to another provider, client id, scopes or audience (then the file is deleted).
    ///
    /// # Errors
    ///
    /// [`ClientError::Store`] when the file cannot be read, is larger than 1 MiB, or (on Unix)
    /// can be read by group or others.
    pub fn load(&self) -> Result<Option<TokenSet>, ClientError> {
        let mut file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ClientError::store(format!(
                    "cannot open {}: {e}",
                    self.path.display()
                )))
            }
        };
        let meta = file
            .metadata()
            .map_err(|e| ClientError::store(format!("cannot read {}: {e}", self.path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(ClientError::store(format!(
                    "{} can be read by others (mode {mode:o}): refusing it; delete it or chmod 600",
                    self.path.display()
                )));
            }
        }
        if meta.len() > MAX_FILE {
            return Err(ClientError::store(format!(
                "{} is too large",
                self.path.display()
            )));
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| ClientError::store(format!("cannot read {}: {e}", self.path.display())))?;
        let Ok(set) = serde_json::from_str::<TokenSet>(&text) else {
            tracing::warn!(target: "sealed_session::client", path = %self.path.display(), "the token file is not a token set: ignored");
            return Ok(None);
        };
        if !self.matches(&set) {
            tracing::info!(
                target: "sealed_session::client",
                path = %self.path.display(),
                "the stored token set is for another provider, client, scopes or audience: discarded"
            );
            self.clear()?;
            return Ok(None);
        }
        Ok(Some(set))
    }

    /// Writes `set`, replacing the file atomically; the file has mode 0600 on Unix, and a
    /// missing directory is created with mode 0700.
    ///
    /// # Errors
    ///
    /// [`ClientError::Store`] when `set` belongs to another client, or on any I/O error.
    pub fn save(&self, set: &TokenSet) -> Result<(), ClientError> {
        if !self.matches(set) {
            return Err(ClientError::store(
                "the token set belongs to another provider, client, scopes or audience",
            ));
        }
        let json = serde_json::to_vec_pretty(set)
            .map_err(|e| ClientError::store(format!("cannot encode the token set: {e}")))?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let io = |e: std::io::Error| {
            ClientError::store(format!("cannot write {}: {e}", self.path.display()))
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io)?;
        let name = self
            .path
            .file_name()
            .map_or_else(|| "tokens".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", rand::random::<u64>()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let written = (|| {
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    /// Deletes the file (sign-out). No error when there is none.
    ///
    /// # Errors
    ///
    /// [`ClientError::Store`] when it exists and cannot be deleted.
    pub fn clear(&self) -> Result<(), ClientError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::store(format!(
                "cannot delete {}: {e}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sealed-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn client() -> OAuthClient {
        OAuthClient::new("https://id", "cli", "https://id/token")
            .with_scopes(["openid", "offline_access"])
            .with_audience("https://api")
    }

    fn set() -> TokenSet {
        TokenSet::new("at-secret", "https://id", "cli")
            .with_refresh_token("rt-secret")
            .with_scopes(["offline_access", "openid"])
            .with_audience("https://api")
    }

    #[cfg(unix)]
    #[test]
    fn mode_0600_and_refuses_wider() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp("mode");
        let store = FileStore::new(dir.join("nested/t.json"), &client());
        store.save(&set()).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.join("nested"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // Saving again keeps 0600 (a new file is renamed over).
        store.save(&set()).unwrap();
        assert_eq!(
            fs::metadata(store.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load().unwrap_err();
        assert!(err.to_string().contains("mode 644"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn discards_on_any_key_change() {
        let dir = temp("key");
        let path = dir.join("t.json");
        let base = FileStore::new(&path, &client());
        let changes = [
            client().with_audience("https://other-api"),
            OAuthClient::new("https://other-id", "cli", "t")
                .with_scopes(["openid", "offline_access"])
                .with_audience("https://api"),
            OAuthClient::new("https://id", "other-cli", "t")
                .with_scopes(["openid", "offline_access"])
                .with_audience("https://api"),
            client().with_scopes(["openid"]),
        ];
        for changed in changes {
            base.save(&set()).unwrap();
            assert_eq!(base.load().unwrap(), Some(set()));
            assert_eq!(FileStore::new(&path, &changed).load().unwrap(), None);
            assert!(!path.exists());
        }
        // Scope order does not matter.
        base.save(&set()).unwrap();
        let reordered = client().with_scopes(["offline_access", "openid"]);
        assert!(FileStore::new(&path, &reordered).load().unwrap().is_some());
        // A set for another client is not written.
        assert!(FileStore::new(&path, &client().with_scopes(["x"]))
            .save(&set())
            .is_err());
        // Garbage is ignored, not an error.
        fs::write(&path, "not json").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(base.load().unwrap(), None);
        base.clear().unwrap();
        base.clear().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
