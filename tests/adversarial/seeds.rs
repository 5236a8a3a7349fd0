//! The seed cookies the operators start from.

use super::*;

pub(crate) struct Seed {
    pub(crate) home: Home,
    pub(crate) sealer: &'static str,
    pub(crate) uid: Option<String>,
    pub(crate) value: String,
    pub(crate) bytes: Vec<u8>,
}

impl Seed {
    pub(crate) fn describe(&self, index: usize) -> String {
        format!(
            "seed #{index} ({:?}, {}, uid {:?}, {} plaintext bytes): {}",
            self.home,
            self.sealer,
            self.uid,
            self.bytes.len() - NONCE - TAG,
            self.value
        )
    }
}

pub(crate) const UID_PIECES: &[&str] = &[
    "a", "b", "z", "A", "Q", "0", "7", "-", "_", ".", "@", "+", "/", "=", " ", "é", "ß", "日",
    "本", "😀", "\"", "\\", "\n", "\t", "\u{0}", "\u{7f}", "\u{2028}", "%", ";", ",",
];
pub(crate) const SCOPE_PIECES: &[&str] = &[
    "read", "write", "admin", "builds", "a", "Z", "9", "/", "+", "#", ":", ".", "-", "*", "ü", "$",
];

pub(crate) fn random_text(rng: &mut Rng, pieces: &[&str], min: usize, max: usize) -> String {
    let n = rng.between(min, max);
    (0..n).map(|_| *rng.pick(pieces)).collect()
}

pub(crate) fn random_list(rng: &mut Rng, max_items: usize, max_len: usize) -> Vec<String> {
    let n = rng.between(0, max_items);
    (0..n)
        .map(|_| random_text(rng, SCOPE_PIECES, 1, max_len))
        .collect()
}

/// A small identity for a seed cookie (the pad value supplies the size).
pub(crate) fn seed_identity(rng: &mut Rng) -> Identity {
    let mut identity = if rng.below(8) == 0 {
        Identity::anonymous()
    } else {
        Identity::new(random_text(rng, UID_PIECES, 1, 16))
    };
    if rng.coin() {
        identity = identity.with_scopes(random_list(rng, 3, 8));
    }
    identity
        .with_roles(random_list(rng, 2, 8))
        .with_groups(random_list(rng, 2, 8))
        .with_mfa(rng.coin())
        .with_role_account(rng.below(4) == 0)
}

pub(crate) fn plaintext_len(value: &str) -> usize {
    STANDARD.decode(value).expect("sealed base64").len() - NONCE - TAG
}

/// Seals `identity` with a pad value so that the plaintext is `target` bytes (or the smallest
/// possible when the identity alone is larger).
pub(crate) fn mint(kit: &TestKit, identity: &Identity, target: usize) -> String {
    let bare = kit.cookie_value(identity.clone());
    if plaintext_len(&bare) >= target {
        return bare;
    }
    let mut pad = 0usize;
    for _ in 0..4 {
        let padded = identity
            .clone()
            .with_value("pad", &"x".repeat(pad))
            .expect("json");
        let value = kit.cookie_value(padded);
        let len = plaintext_len(&value);
        if len == target || (len > target && pad == 0) {
            return value;
        }
        pad = (pad + target).saturating_sub(len);
    }
    panic!("could not size a seed to {target} bytes");
}

/// The 100 seeds: slot `i % 10` picks the layer, pairs `(2k, 2k + 1)` share an identity and a
/// size, and the size grows log-spaced with `i / 2`.
pub(crate) fn make_seeds(homes: &Homes, base: u64) -> Vec<Seed> {
    let previous = TestKit::new(&SessionLayer::new(key(2)).with_clock(ManualClock::new(T0)));
    let mut seeds = Vec::with_capacity(SEEDS);
    for i in 0..SEEDS {
        let (group, slot) = (i / 10, i % 10);
        let level = i / 2;
        let target = (SMALLEST * (LARGEST / SMALLEST).powf(level as f64 / 49.0)).round() as usize;
        let mut rng = Rng::new(base ^ (0x5EED_0000 + level as u64));
        let identity = if level == 0 {
            Identity::anonymous()
        } else {
            seed_identity(&mut rng)
        };
        let (home, sealer, kit) = match slot {
            0..=4 => (Home::Main, "key 1 (current)", &homes.app(Home::Main).kit),
            5 | 9 => (Home::Main, "key 2 (previous)", &previous),
            6 => {
                let k = FOREIGN_KEYS[group % FOREIGN_KEYS.len()];
                (
                    Home::Foreign(k),
                    "a foreign key",
                    &homes.app(Home::Foreign(k)).kit,
                )
            }
            7 => (
                Home::MovedName,
                "cookie name __Host-moved",
                &homes.app(Home::MovedName).kit,
            ),
            _ => (
                Home::OtherPurpose,
                "purpose another-app",
                &homes.app(Home::OtherPurpose).kit,
            ),
        };
        let value = mint(kit, &identity, target);
        let bytes = STANDARD.decode(&value).expect("base64");
        assert_eq!(STANDARD.encode(&bytes), value, "seeds are canonical");
        assert!(
            home.cookie_name().len() + value.len() <= 4096,
            "seed {i} fits a cookie: {} bytes",
            value.len()
        );
        seeds.push(Seed {
            home,
            sealer,
            uid: identity.uid().map(str::to_owned),
            value,
            bytes,
        });
    }
    seeds
}
