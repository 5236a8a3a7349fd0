//! The round-trip property: random valid sessions seal and open back to the same session.

use super::*;

pub(crate) fn random_json(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 4 } else { 6 }) {
        0 => Value::String(random_text(rng, UID_PIECES, 0, 48)),
        1 => json!(rng.next() as i64),
        2 => json!(rng.coin()),
        3 => json!(rng.below(1_000)),
        4 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(3) {
                map.insert(
                    random_text(rng, SCOPE_PIECES, 1, 6),
                    random_json(rng, depth - 1),
                );
            }
            Value::Object(map)
        }
    }
}

/// A random identity and the application values it carries.
pub(crate) fn random_identity(rng: &mut Rng) -> (Identity, Map<String, Value>) {
    let mut identity = if rng.below(10) == 0 {
        Identity::anonymous()
    } else {
        Identity::new(random_text(rng, UID_PIECES, 0, 32))
    };
    for _ in 0..rng.below(3) {
        identity = identity.with_metadata_entry(
            format!("k{}", random_text(rng, SCOPE_PIECES, 1, 6)),
            random_json(rng, 1),
        );
    }
    if rng.below(4) != 0 {
        identity = identity.with_scopes(random_list(rng, 6, 16));
    }
    identity = identity
        .with_roles(random_list(rng, 4, 16))
        .with_groups(random_list(rng, 4, 16))
        .with_mfa(rng.coin())
        .with_role_account(rng.coin());
    let mut values = Map::new();
    for _ in 0..rng.below(4) {
        let (k, v) = (random_text(rng, SCOPE_PIECES, 1, 8), random_json(rng, 2));
        identity = identity.with_json_value(k.clone(), v.clone());
        values.insert(k, v);
    }
    (identity, values)
}

#[tokio::test]
async fn random_valid_sessions_round_trip_through_seal_and_open() {
    let cases = env_u64("SEALED_SESSION_ROUND_TRIPS", 2_000, 10_000_000);
    let base = base_seed() ^ 0x0123_4567_89AB_CDEF;
    let app = app();
    let start = Instant::now();
    let t0 = T0.unix_timestamp();
    let (idle, max_age, skew) = (7 * 86_400_i64, 30 * 86_400_i64, 60_i64);
    let mut through_router = 0;
    for case in 0..cases {
        let mut rng = Rng::new(case_seed(base, case));
        let (identity, values) = random_identity(&mut rng);
        // Timestamps a live session can have: created within the max age (or the skew allowance
        // ahead), last seen within the idle timeout and not before creation.
        let created = t0 - max_age + 1 + rng.below((max_age + skew) as usize) as i64;
        let low = created.max(t0 - idle + 1);
        let last_seen = low + rng.below((t0 + skew - low).max(1) as usize) as i64;
        assert!(created - t0 < skew && t0 - created < max_age && t0 - last_seen < idle);

        let value = app
            .kit
            .cookie_value_at(identity.clone(), created, last_seen);
        let what = || {
            format!(
                "case {case} (PRNG seed {:#x}): {value}",
                case_seed(base, case)
            )
        };
        assert_eq!(
            STANDARD.encode(STANDARD.decode(&value).expect("base64")),
            value
        );
        if NAME.len() + value.len() > 4096 {
            // The kit does not size-check; such a session would never be sealed by the layer.
            assert!(start.elapsed().as_secs() < 600);
            continue;
        }
        let s = app
            .kit
            .open(&value)
            .unwrap_or_else(|| panic!("does not open: {}", what()));
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).expect("timestamp");
        assert_eq!(s.uid().as_deref(), identity.uid(), "{}", what());
        assert_eq!(s.metadata(), *identity.metadata(), "{}", what());
        let scopes: Vec<String> = match identity.metadata().get("scope") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().expect("str").to_owned())
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(s.scopes(), scopes, "{}", what());
        assert_eq!(s.roles(), identity.roles(), "{}", what());
        assert_eq!(s.groups(), identity.groups(), "{}", what());
        assert_eq!(s.mfa(), identity.mfa(), "{}", what());
        assert_eq!(
            s.is_role_account(),
            identity.is_role_account(),
            "{}",
            what()
        );
        assert_eq!(s.created_at(), at(created), "{}", what());
        assert_eq!(s.last_seen(), at(last_seen), "{}", what());
        assert_eq!(s.auth_time(), at(created), "{}", what());
        for (k, v) in &values {
            assert_eq!(
                s.get::<Value>(k).expect("json").as_ref(),
                Some(v),
                "{}",
                what()
            );
        }
        // Sealing is randomised: the same session seals to another value, which opens the same.
        let again = app
            .kit
            .cookie_value_at(identity.clone(), created, last_seen);
        assert_ne!(again, value);
        assert_eq!(app.kit.open(&again).expect("opens").uid(), s.uid());

        // Every 50th through the Router: a live session.
        if case % 50 == 0 && through_router < 200 {
            through_router += 1;
            let res = app
                .get_with_cookie("/me", &app.kit.header_for(&value))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{}", what());
            assert_eq!(
                body(res).await,
                identity.uid().unwrap_or_default(),
                "{}",
                what()
            );
        }
        assert!(
            start.elapsed().as_secs() < 600,
            "round trips over their time budget at case {case} of {cases}"
        );
    }
    eprintln!(
        "round trips: {cases} random sessions sealed and opened with every field intact, \
         {through_router} through the Router, {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
