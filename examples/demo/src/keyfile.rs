//! The key file: the session key ring, created on first run with mode 0600 and reused on restart
//! (asfquart keeps its secret in `apptoken.txt` the same way).
//!
//! ```text
//! # sealed-session demo key ring: ...
//! <current key: 64 random bytes, base64>
//! <previous key>            (up to three; they open cookies sealed before a rotation)
//! ```
//!
//! `rotate` puts a new key first and keeps the old current key as a previous key, so every
//! cookie still opens (and is re-sealed with the new key on its next response): no one is
//! logged out. Only a key pushed out past the third previous key ends the sessions it sealed.
//!
//! Errors name the file and the line, never the key material.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;
use sealed_session::{Key, KeyRing, MAX_PREVIOUS_KEYS};

const HEADER: &str = "\
# sealed-session demo key ring. SECRET: whoever reads this file can forge sessions.
# The first key seals new cookies; up to three more open cookies sealed before a rotation.
# Rotate with: cargo run -p sealed-session-demo -- rotate-key --data-dir <the directory of this file>
# (the --data-dir may be left out for the default, examples/demo/demo-data).
";

/// Why the key file could not be used.
#[derive(Debug)]
pub(crate) enum KeyFileError {
    Io(PathBuf, std::io::Error),
    /// Group or others may read or write it.
    Permissions(PathBuf, u32),
    /// A line is not 64 bytes or more of base64, or the ring is invalid.
    Invalid(PathBuf, String),
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "key file {}: {e}", path.display()),
            Self::Permissions(path, mode) => write!(
                f,
                "key file {} has mode {mode:o}: others may read it. Run `chmod 600 {}`, or \
                 delete it to start over (everyone is logged out)",
                path.display(),
                path.display()
            ),
            Self::Invalid(path, why) => write!(f, "key file {}: {why}", path.display()),
        }
    }
}

impl std::error::Error for KeyFileError {}

/// What a key file holds, for the ring and for display.
pub(crate) struct Loaded {
    pub(crate) ring: KeyRing,
    /// Non-secret fingerprints, current key first.
    pub(crate) fingerprints: Vec<String>,
    /// Whether this call created the file.
    pub(crate) created: bool,
}

/// Reads the key file, creating it (and its directory) with a fresh key if it is missing.
pub(crate) fn load_or_create(path: &Path) -> Result<Loaded, KeyFileError> {
    let io = |e| KeyFileError::Io(path.to_owned(), e);
    if !path.exists() {
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(io)?;
        }
        let material = fresh_material();
        write_new(path, &[material]).map_err(io)?;
        let mut loaded = load(path)?;
        loaded.created = true;
        return Ok(loaded);
    }
    load(path)
}

/// Reads an existing key file.
pub(crate) fn load(path: &Path) -> Result<Loaded, KeyFileError> {
    check_permissions(path)?;
    let materials = read_materials(path)?;
    let keys = materials
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Key::try_from(m.as_slice())
                .map_err(|e| KeyFileError::Invalid(path.to_owned(), format!("key {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fingerprints = keys.iter().map(Key::fingerprint).collect();
    let mut keys = keys.into_iter();
    let current = keys
        .next()
        .ok_or_else(|| KeyFileError::Invalid(path.to_owned(), "it holds no key".into()))?;
    let ring = KeyRing::from_keys(current, keys)
        .map_err(|e| KeyFileError::Invalid(path.to_owned(), e.to_string()))?;
    Ok(Loaded {
        ring,
        fingerprints,
        created: false,
    })
}

/// What a rotation did.
#[derive(Debug)]
pub(crate) struct Rotation {
    pub(crate) new_fingerprint: String,
    pub(crate) kept: usize,
    /// Fingerprints of keys dropped from the ring: sessions they sealed have ended.
    pub(crate) dropped: Vec<String>,
}

/// Puts a new key first; the old keys follow, at most [`MAX_PREVIOUS_KEYS`] of them. The file is
/// replaced atomically (a new 0600 file, then a rename).
pub(crate) fn rotate(path: &Path) -> Result<Rotation, KeyFileError> {
    let io = |e| KeyFileError::Io(path.to_owned(), e);
    check_permissions(path)?;
    let mut materials = read_materials(path)?;
    materials.insert(0, fresh_material());
    let dropped: Vec<Vec<u8>> = materials.split_off((MAX_PREVIOUS_KEYS + 1).min(materials.len()));
    let tmp = path.with_extension("txt.new");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, &materials).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    let loaded = load(path)?;
    let fingerprint = |m: &Vec<u8>| Key::try_from(m.as_slice()).map(|k| k.fingerprint());
    Ok(Rotation {
        new_fingerprint: loaded.fingerprints.first().cloned().unwrap_or_default(),
        kept: loaded.fingerprints.len() - 1,
        dropped: dropped.iter().filter_map(|m| fingerprint(m).ok()).collect(),
    })
}

/// A digest of the file's bytes, to notice a rotation made by another process.
pub(crate) fn stamp(path: &Path) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    fs::read(path).ok().map(|b| sha2::Sha256::digest(b).into())
}

fn fresh_material() -> Vec<u8> {
    let mut material = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut material);
    material
}

fn read_materials(path: &Path) -> Result<Vec<Vec<u8>>, KeyFileError> {
    let text = fs::read_to_string(path).map_err(|e| KeyFileError::Io(path.to_owned(), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(n, line)| {
            STANDARD.decode(line.trim()).map_err(|_| {
                KeyFileError::Invalid(path.to_owned(), format!("line {} is not base64", n + 1))
            })
        })
        .collect()
}

fn write_new(path: &Path, materials: &[Vec<u8>]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = String::from(HEADER);
    for material in materials {
        text.push_str(&STANDARD.encode(material));
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn check_permissions(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = fs::metadata(path).map_err(|e| KeyFileError::Io(path.to_owned(), e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions(path.to_owned(), mode));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;
    use sealed_session::testing::TestKit;
    use sealed_session::{Identity, SessionLayer};

    #[test]
    fn created_once_with_mode_0600_and_reused() {
        let dir = TestDir::new("keyfile-create");
        let path = dir.path().join("data/session-keys.txt");
        let first = load_or_create(&path).unwrap();
        assert!(first.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = load_or_create(&path).unwrap();
        assert!(!again.created);
        assert_eq!(first.fingerprints, again.fingerprints);
        assert!(first.ring == again.ring);
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_key_file_is_refused_without_printing_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TestDir::new("keyfile-mode");
        let path = dir.path().join("session-keys.txt");
        load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = load(&path).err().unwrap().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        let text = fs::read_to_string(&path).unwrap();
        let secret = text.lines().last().unwrap();
        assert!(!error.contains(secret));
    }

    #[test]
    fn rotation_keeps_old_cookies_open_and_drops_the_fifth_key() {
        let dir = TestDir::new("keyfile-rotate");
        let path = dir.path().join("session-keys.txt");
        let before = load_or_create(&path).unwrap();
        let old_kit = TestKit::new(&SessionLayer::new(before.ring.clone()));
        let cookie = old_kit.cookie_value(Identity::new("alice"));

        let rotation = rotate(&path).unwrap();
        let after = load(&path).unwrap();
        assert_eq!(after.fingerprints.len(), 2);
        assert_eq!(after.fingerprints[1], before.fingerprints[0]);
        assert_eq!(rotation.new_fingerprint, after.fingerprints[0]);
        assert!(rotation.dropped.is_empty());
        let new_kit = TestKit::new(&SessionLayer::new(after.ring));
        let session = new_kit
            .open(&cookie)
            .expect("the old key still opens the cookie");
        assert_eq!(session.uid().as_deref(), Some("alice"));

        for _ in 0..2 {
            rotate(&path).unwrap();
        }
        let full = load(&path).unwrap();
        assert_eq!(full.fingerprints.len(), 1 + MAX_PREVIOUS_KEYS);
        let rotation = rotate(&path).unwrap();
        assert_eq!(rotation.dropped, vec![before.fingerprints[0].clone()]);
        let dropped_kit = TestKit::new(&SessionLayer::new(load(&path).unwrap().ring));
        assert!(
            dropped_kit.open(&cookie).is_none(),
            "a dropped key ends its sessions"
        );
    }

    #[test]
    fn invalid_lines_are_named_not_printed() {
        let dir = TestDir::new("keyfile-invalid");
        let path = dir.path().join("session-keys.txt");
        write_new(&path, &[vec![1u8; 10]]).unwrap();
        let error = load(&path).err().unwrap().to_string();
        assert!(
            error.contains("key 1") && error.contains("too short"),
            "{error}"
        );
        fs::remove_file(&path).unwrap();
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        options
            .open(&path)
            .unwrap()
            .write_all(b"# header\nnot base64!\n")
            .unwrap();
        assert!(load(&path).err().unwrap().to_string().contains("line 2"));
    }
}
