//! Two P-256 keys made for the tests only (PKCS#8 DER, base64), each with its public x and y
//! (base64url): DPoP proof keys and in-test token signers.

/// The first key: `(PKCS#8 DER base64, x, y)`.
pub const P256_A: (&str, &str, &str) = (
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpRYqvcp9tgpdJYQcnHPk6yrTpu7zx0fuIF0TolJibAyhRANCAAQ2xlYaWYkxl8kCokVgyq5xrb+R0KFDoDMhn0xb1DF6/Kf/DDvZDHtbsmVZbcK5qCTu8R4yv83ylm2CVs7R2W3z",
    "NsZWGlmJMZfJAqJFYMquca2_kdChQ6AzIZ9MW9Qxevw",
    "p_8MO9kMe1uyZVltwrmoJO7xHjK_zfKWbYJWztHZbfM",
);

/// The second key: `(PKCS#8 DER base64, x, y)`.
pub const P256_B: (&str, &str, &str) = (
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/Di/0KVBAtZE6TRw94i+CXVRbFRyFw6xHU7dak9t7AyhRANCAAQTllQTf+kF9jgqaq0naYIB8WMrwxNdZBelSL0Nzw25EnuygxHX5u9VA0oAiOWnH+NEXI0A05dAgQMYamkEzsdu",
    "E5ZUE3_pBfY4KmqtJ2mCAfFjK8MTXWQXpUi9Dc8NuRI",
    "e7KDEdfm71UDSgCI5acf40RcjQDTl0CBAxhqaQTOx24",
);
