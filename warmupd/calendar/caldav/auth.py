"""HTTP Digest authentication (RFC 7616) for the DAV session: pure functions.

Owns: reading a ``WWW-Authenticate: Digest`` challenge and computing the
``Authorization`` answer (MD5 or SHA-256, with or without ``-sess``, qop
``auth``).  Servers such as Baïkal ask for Digest by default.

Must not: do I/O or keep the password beyond the call.
"""

from __future__ import annotations

import hashlib
import re


def digest_challenge(header: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` WWW-Authenticate challenge (RFC 7616), or None."""
    if not header.lower().startswith("digest "):
        return None
    out: dict[str, str] = {}
    for m in re.finditer(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', header[7:]):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out if "nonce" in out and "realm" in out else None


def digest_header(ch: dict[str, str], user: str, password: str, method: str, uri: str,
                  nc: int, cnonce: str) -> str:
    """The Authorization header answering challenge ``ch`` (MD5 or SHA-256, qop auth)."""
    algorithm = ch.get("algorithm", "MD5")
    name = algorithm.upper().removesuffix("-SESS")
    fn = hashlib.sha256 if name == "SHA-256" else hashlib.md5

    def h(text: str) -> str:
        return fn(text.encode()).hexdigest()

    ha1 = h(f"{user}:{ch['realm']}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{ch['nonce']}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    count = f"{nc:08x}"
    qops = [q.strip() for q in ch.get("qop", "").split(",")]
    if "auth" in qops:
        response = h(f"{ha1}:{ch['nonce']}:{count}:{cnonce}:auth:{ha2}")
        extra = f", qop=auth, nc={count}, cnonce=\"{cnonce}\""
    else:
        response = h(f"{ha1}:{ch['nonce']}:{ha2}")
        extra = ""
    opaque = f", opaque=\"{ch['opaque']}\"" if "opaque" in ch else ""
    return (f'Digest username="{user}", realm="{ch["realm"]}", nonce="{ch["nonce"]}", '
            f'uri="{uri}", algorithm={algorithm}, response="{response}"{extra}{opaque}')
