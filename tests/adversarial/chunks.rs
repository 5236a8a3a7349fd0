//! Chunked sessions (`with_cookie_chunks`): splicing, reordering, dropping, duplicating and
//! transplanting chunks between sessions never opens a session; the answer is the anonymous one
//! with a deletion for every chunk.

use super::*;
use axum::http::{Method, Request};

const CHUNKS: usize = 4;
/// Bounded: this many random splices, and no more than this much time.
const SPLICES: usize = 400;
const SPLICE_BUDGET: StdDuration = StdDuration::from_secs(60);

fn names() -> Vec<String> {
    (0..CHUNKS)
        .map(|i| match i {
            0 => NAME.to_owned(),
            i => format!("{NAME}.{i}"),
        })
        .collect()
}

/// A login of `uid` with `pad` bytes of values, as the chunk values in order.
async fn chunked_login(app: &App, uid: &str, pad: usize) -> Vec<String> {
    let res = app
        .send(
            Request::post(format!("/login?uid={uid}&pad={pad}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut values = Vec::new();
    for name in names() {
        let value = set_cookies(&res).into_iter().find_map(|line| {
            let pair = line.split(';').next()?.to_owned();
            let (n, v) = pair.split_once('=')?;
            (n == name && !v.is_empty()).then(|| v.to_owned())
        });
        match value {
            Some(v) => values.push(v),
            None => break,
        }
    }
    values
}

async fn answer(app: &App, cookie: &str) -> (StatusCode, Vec<String>) {
    let res = app
        .send(request(
            Method::GET,
            "/me",
            &[("cookie", cookie.as_bytes())],
        ))
        .await;
    let mut deleted: Vec<String> = set_cookies(&res)
        .iter()
        .filter(|l| l.contains("Max-Age=0"))
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.to_owned()))
        .collect();
    deleted.sort();
    (res.status(), deleted)
}

#[tokio::test]
async fn no_splice_of_chunks_opens() {
    let app = app_with(key(1), |l| l.with_cookie_chunks(CHUNKS));
    let foreign = app_with(key(3), |l| l.with_cookie_chunks(CHUNKS));
    // Two sessions of the same size under the layer's key, one of another size, one foreign.
    let alice = chunked_login(&app, "alice", 7000).await;
    let mallory = chunked_login(&app, "mallory", 7000).await;
    let small = chunked_login(&app, "mallory", 4000).await;
    let other = chunked_login(&foreign, "alice", 7000).await;
    assert_eq!(alice.len(), 3);
    assert_eq!(mallory.len(), 3);
    assert_eq!(other.len(), 3);
    let names = names();
    let whole = |values: &[String]| -> String {
        values
            .iter()
            .zip(&names)
            .map(|(v, n)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    // Each whole session opens as its own.
    let res = app
        .send(request(
            Method::GET,
            "/me",
            &[("cookie", whole(&alice).as_bytes())],
        ))
        .await;
    assert_eq!(body(res).await, "alice");

    let mut expected: Vec<String> = names.clone();
    expected.sort();
    let pool: Vec<&Vec<String>> = vec![&alice, &mallory, &small, &other];
    let mut rng = Rng::new(base_seed() ^ 0xC4_0C4);
    let start = Instant::now();
    let mut tried = 0;
    while tried < SPLICES {
        assert!(
            start.elapsed() <= SPLICE_BUDGET,
            "splice campaign over budget after {tried}"
        );
        // Up to CHUNKS cookies, each a chunk of a random session placed under a random name
        // (or the right one), possibly repeated.
        let count = rng.between(1, CHUNKS + 1);
        let mut pairs = Vec::new();
        for _ in 0..count {
            let from = *rng.pick(&pool);
            let index = rng.below(from.len());
            let slot = if rng.coin() { index } else { rng.below(CHUNKS) };
            pairs.push((names[slot].clone(), from[index].clone()));
        }
        let cookie = pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        // A splice equal to a whole valid session (same values under the same names, in any
        // header order) is not a mutant: skip it.
        let mut sorted = pairs.clone();
        sorted.sort();
        let is_whole = |values: &Vec<String>| {
            let mut w: Vec<(String, String)> =
                names.iter().cloned().zip(values.iter().cloned()).collect();
            w.sort();
            w == sorted
        };
        if [&alice, &mallory, &small].iter().any(|v| is_whole(v)) {
            continue;
        }
        tried += 1;
        let (status, deleted) = answer(&app, &cookie).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "opened: {pairs:?}");
        assert_eq!(deleted, expected, "every chunk deleted for {pairs:?}");
    }

    // The targeted cases, named.
    let cases: Vec<(&str, Vec<(usize, &String)>)> = vec![
        (
            "reordered",
            vec![(0, &alice[0]), (1, &alice[2]), (2, &alice[1])],
        ),
        (
            "spliced middle",
            vec![(0, &alice[0]), (1, &mallory[1]), (2, &alice[2])],
        ),
        ("truncated", vec![(0, &alice[0]), (1, &alice[1])]),
        (
            "extended",
            vec![(0, &small[0]), (1, &small[1]), (2, &alice[2])],
        ),
        (
            "foreign chunk",
            vec![(0, &alice[0]), (1, &alice[1]), (2, &other[2])],
        ),
        ("gap", vec![(0, &alice[0]), (2, &alice[2])]),
    ];
    for (what, parts) in cases {
        let cookie = parts
            .iter()
            .map(|(i, v)| format!("{}={v}", names[*i]))
            .collect::<Vec<_>>()
            .join("; ");
        let (status, deleted) = answer(&app, &cookie).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(deleted, expected, "{what}");
    }
}
