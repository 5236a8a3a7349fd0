//! The layers a value can be sealed for or presented to, and the answer each gives to garbage.

use super::*;

/// A layer configuration a value is sealed for or presented to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Home {
    /// The layer under test: key ring of key 1 (current) and key 2 (previous).
    Main,
    /// A layer with only the key of this seed.
    Foreign(u8),
    /// The same ring, another cookie name.
    MovedName,
    /// The same ring, another purpose.
    OtherPurpose,
}

pub(crate) const FOREIGN_KEYS: [u8; 4] = [3, 4, 5, 6];

impl Home {
    pub(crate) fn cookie_name(self) -> &'static str {
        match self {
            Self::MovedName => MOVED,
            _ => NAME,
        }
    }
}

/// One `App` (router + kit) per home, and the answer each gives to a garbage cookie on `/me`.
pub(crate) struct Homes {
    pub(crate) list: Vec<(Home, App, Snapshot)>,
}

pub(crate) type Snapshot = (StatusCode, HeaderMap, String);

pub(crate) async fn snapshot(res: Response<Body>) -> Snapshot {
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, body(res).await)
}

impl Homes {
    pub(crate) async fn new() -> Self {
        let ring = || KeyRing::new(key(1)).with_previous(key(2)).expect("ring");
        let mut apps = vec![
            (Home::Main, app_with(ring(), |l| l)),
            (
                Home::MovedName,
                app_with(ring(), |l| l.with_cookie_name(MOVED)),
            ),
            (
                Home::OtherPurpose,
                app_with(ring(), |l| l.with_purpose(PURPOSE)),
            ),
        ];
        for k in FOREIGN_KEYS {
            apps.push((Home::Foreign(k), app_with(key(k), |l| l)));
        }
        let mut list = Vec::new();
        for (home, app) in apps {
            let name = home.cookie_name();
            let garbage = HeaderValue::from_str(&format!("{name}=garbage")).expect("header");
            let res = app.get_with_cookie("/me", &garbage).await;
            // The reference answer every refused mutant must reproduce byte for byte.
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{home:?}");
            assert_eq!(header(&res, "www-authenticate"), Some(BARE), "{home:?}");
            assert_eq!(header(&res, "cache-control"), Some("no-store"), "{home:?}");
            let deletion = app.kit.deletion_line().to_str().expect("ascii").to_owned();
            assert!(deletion.starts_with(&format!("{name}=;")), "{deletion}");
            assert!(deletion.contains("Max-Age=0"), "{deletion}");
            assert_eq!(session_cookies(&res, name), [deletion], "{home:?}");
            let reference = snapshot(res).await;
            list.push((home, app, reference));
        }
        Self { list }
    }

    pub(crate) fn get(&self, home: Home) -> &(Home, App, Snapshot) {
        self.list
            .iter()
            .find(|(h, ..)| *h == home)
            .expect("known home")
    }

    pub(crate) fn app(&self, home: Home) -> &App {
        &self.get(home).1
    }
}
