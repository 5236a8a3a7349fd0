//! Placeholder: the JWT bench comes next.
fn main() {}
