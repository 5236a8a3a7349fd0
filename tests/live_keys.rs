//! Live key rotation through a real Router: `LiveKeys::rotate` takes effect on the next request,
//! without a new Router; sessions sealed with the previous key still open and are re-sealed with
//! the new one; retiring the previous keys ends the sessions still sealed with them.

mod common;

use axum::http::StatusCode;
use common::*;
use sealed_session::LiveKeys;

#[tokio::test]
async fn a_rotation_takes_effect_on_the_next_request() {
    let keys = LiveKeys::new(key(1));
    let app = app_with(key(1), |l| l.with_live_keys(keys.clone()));
    let before = app.login("uid=alice").await;
    keys.rotate(key(2)).unwrap();

    // Sealed with the previous key: still opens, and is re-sealed with the new one at once.
    let res = app.get_with_cookie("/me", &before).await;
    assert_eq!(res.status(), StatusCode::OK);
    let resealed = cookie_from(&res).expect("re-sealed with the current key");
    // New cookies are sealed with the new key: an app that only knows it opens them.
    let after = app.login("uid=bob").await;
    let only_new = app_with(key(2), |l| l);
    assert_eq!(
        body(only_new.get_with_cookie("/me", &after).await).await,
        "bob"
    );
    assert_eq!(
        body(only_new.get_with_cookie("/me", &resealed).await).await,
        "alice"
    );
    assert_eq!(
        only_new.get_with_cookie("/me", &before).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Retiring the previous key ends what is still sealed with it, on the same Router.
    keys.retire_previous();
    let res = app.get_with_cookie("/me", &before).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
    assert_eq!(
        app.get_with_cookie("/me", &resealed).await.status(),
        StatusCode::OK
    );
}
