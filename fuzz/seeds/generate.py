#!/usr/bin/env python3
"""Writes the seed inputs in fuzz/seeds/<target>/ (deterministic; re-run after a layout change).

The structured targets decode their input with `arbitrary` 1.x, so the seeds here follow its
byte layout: integers little-endian; an enum is a u32 whose top bits pick the variant
((v * variants) >> 32); a length-prefixed string takes its length byte from the *end* of the
remaining input; a Vec taken as the last field is a sequence of (odd "one more" byte, element).
`cargo fuzz fmt <target> <file>` prints how a seed decodes.

    python3 fuzz/seeds/generate.py
"""

import base64
import json
import os
import random
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


def variant(index, count):
    """The smallest u32 that `arbitrary` maps to enum variant `index` of `count`."""
    v = -(-(index << 32) // count)  # ceil(index * 2^32 / count)
    assert (v * count) >> 32 == index
    return struct.pack("<I", v)


# --- cookie_header: Name (4 variants: HostSession, Session, SecureId, Custom), then fields ----
HOST, SESSION, SECURE, CUSTOM = (variant(i, 4) for i in range(4))
cookie = {
    "plain": HOST + b"a=1; __Host-session=abc",
    "two_lines": HOST + b"__Host-session=abc\0theme=dark; __Host-session=def",
    "lookalikes": HOST
    + b"__host-session=x; %5F%5FHost-session=y; __Host-session= spaced\t; __Host-session",
    "quoted_empty": HOST + b'__Host-session="quoted";__Host-session=;;=;a',
    "many": SESSION + b"session=1; session=2; session=3; session=4; session=5; session=6",
    "secure": SECURE + b"__Secure-id=abc==; __Secure-id=def",
}
for name, data in cookie.items():
    write("cookie_header", name, data)
# Custom(&[u8]) before the last field: its length byte is the input's last byte.
name, fields = b"id", b"id=1; id=2;id =3"
write("cookie_header", "custom_name", CUSTOM + name + fields + bytes([len(name)]))

# --- authorization: max_len u16 LE, then fields --------------------------------------------
auth = {
    "bearer": (4096, b"Bearer abc.DEF-_~+/123=="),
    "two_fields": (4096, b"Bearer abc\0Bearer def"),
    "comma": (4096, b"Bearer abc, Bearer def"),
    "basic": (4096, b"Basic dXNlcjpwYXNz"),
    "odd_spacing": (4096, b"bearer  \tabc"),
    "eq_middle": (4096, b"Bearer ab=c"),
    "over_limit": (4, b"Bearer abcde"),
    "empty": (4096, b"Bearer "),
}
for name, (max_len, fields) in auth.items():
    write("authorization", name, struct.pack("<H", max_len) + fields)

# --- open_sealed: plausible values (right shape, never authentic) ----------------------------
rng = random.Random(4)
for n in (0, 20, 200):
    raw = bytes(rng.randrange(256) for _ in range(12 + n + 16))  # nonce, ciphertext, tag
    write("open_sealed", f"std_{n}", base64.b64encode(raw))
    write("open_sealed", f"urlsafe_{n}", base64.urlsafe_b64encode(raw).rstrip(b"="))
write("open_sealed", "not_canonical", b"QUJDRA=a")

# --- decode_payload: envelope JSON --------------------------------------------------------
minimal = {"v": 1, "i": "BwcHBwcHBwcHBwcHBwcHBw", "u": "alice",
           "c": 1700000000, "l": 1700000060, "a": 1700000000}
full = dict(minimal, ra=True, mf=True, r=["admin"], g=["ops", "dev"],
            m={"scope": "repo:read repo:write", "n": 1.5}, d={"cart": [1, 2, {"x": None}]},
            k=1700000030)
compact = lambda o: json.dumps(o, separators=(",", ":")).encode()
write("decode_payload", "minimal", compact(minimal))
write("decode_payload", "full", compact(full))
write("decode_payload", "anonymous", compact({k: v for k, v in minimal.items() if k != "u"}))
write("decode_payload", "unknown_key", compact(dict(minimal, zz=[1])))
write("decode_payload", "version_2", compact(dict(minimal, v=2)))

# --- challenge: realm (String), then scopes (Vec<String>, taken last) -------------------------
def challenge(realm, scopes):
    front, back = realm.encode(), [len(realm.encode())]
    for s in scopes:
        s = s.encode()
        front += b"\x01" + s
        back.append(len(s))
    data = front + bytes(reversed(back))
    assert len(data) <= 256 and all(b < 256 for b in back)
    return data

write("challenge", "api_scopes", challenge("api", ["repo:read", "a b"]))
write("challenge", "default_realm", challenge("sealed-session", ["read"]))
write("challenge", "odd_scopes", challenge("x", ['read"', "write\\", "", "caf\u00e9"]))
write("challenge", "bad_realm", challenge('a"b', ["s"]))

# --- expiry: now i64, later_by u32, created i64, last_seen i64, idle u32, max_age u32, skew u16
def expiry(now, later_by, created, last_seen, idle, max_age, skew):
    return struct.pack("<qIqqIIH", now, later_by, created, last_seen, idle, max_age, skew)

T = 1700000000
write("expiry", "live", expiry(T, 3600, T - 10000, T - 1000, 1800, 86400, 60))
write("expiry", "idle_boundary", expiry(T + 1800, 1, T, T, 1800, 86400, 60))
write("expiry", "absolute_boundary", expiry(T + 86400, 1, T, T + 86399, 1800, 86400, 60))
write("expiry", "future_within_skew", expiry(T, 10, T + 60, T, 1800, 86400, 60))
write("expiry", "extremes", expiry(2**63 - 1, 2**32 - 1, -(2**63), -(2**63), 2**32 - 1, 2**32 - 1, 2**16 - 1))
