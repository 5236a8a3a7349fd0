//! [`ReplayBody`]: which request bodies can be sent twice, for the one retry after a 401.

use bytes::Bytes;

/// A request body that can be copied for a retry. Bodies held in memory can; streams cannot
/// (`try_clone` returns `None`), and then a 401 comes back to the caller as it is, with its
/// [`Challenge`](super::Challenge) in the response extensions.
///
/// ```
/// use sealed_session::client::ReplayBody;
///
/// let body = String::from("{\"a\":1}");
/// assert_eq!(body.try_clone().as_deref(), Some("{\"a\":1}"));
/// ```
pub trait ReplayBody: Sized {
    /// A copy of the body, or `None` when it cannot be sent again.
    fn try_clone(&self) -> Option<Self>;
}

impl ReplayBody for http_body_util::Full<Bytes> {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for http_body_util::Empty<Bytes> {
    fn try_clone(&self) -> Option<Self> {
        Some(*self)
    }
}

impl ReplayBody for String {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for Vec<u8> {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for Bytes {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for () {
    fn try_clone(&self) -> Option<Self> {
        Some(())
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::BoxBody<D, E> {
    /// A boxed body is a stream: never replayed.
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::UnsyncBoxBody<D, E> {
    /// A boxed body is a stream: never replayed.
    fn try_clone(&self) -> Option<Self> {
        None
    }
}

/// A body that is either replayable or a stream: `Either<Full<Bytes>, BoxBody<..>>`.
impl<L: ReplayBody, R: ReplayBody> ReplayBody for http_body_util::Either<L, R> {
    fn try_clone(&self) -> Option<Self> {
        match self {
            Self::Left(l) => l.try_clone().map(Self::Left),
            Self::Right(r) => r.try_clone().map(Self::Right),
        }
    }
}

/// Copies a request (method, URI, version, headers, extensions) when its body can be copied.
pub(crate) fn try_clone_request<B: ReplayBody>(req: &http::Request<B>) -> Option<http::Request<B>> {
    let body = req.body().try_clone()?;
    let mut copy = http::Request::new(body);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt as _, Full};

    #[test]
    fn copies_everything_but_streams() {
        let req = http::Request::post("http://x/y?z")
            .header("a", "b")
            .extension(7_u8)
            .body(Full::new(Bytes::from_static(b"hi")))
            .unwrap();
        let copy = try_clone_request(&req).unwrap();
        assert_eq!(copy.method(), "POST");
        assert_eq!(copy.uri(), "http://x/y?z");
        assert_eq!(copy.headers()["a"], "b");
        assert_eq!(copy.extensions().get::<u8>(), Some(&7));
        let boxed = http::Request::new(Full::new(Bytes::new()).boxed());
        assert!(try_clone_request(&boxed).is_none());
    }
}
