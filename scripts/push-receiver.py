"""Plays a browser and its push service for the web push integration test, with libraries that
share no code with the shop's (http_ece for RFC 8291/8188 decryption, cryptography for the keys
and the ES256 check of the RFC 8292 VAPID token).

  push-receiver.py keys
      Prints a fresh subscription key pair as JSON, base64url without padding:
      {"p256dh": <65-byte public point>, "auth": <16-byte secret>, "private": <32-byte scalar>}.

  push-receiver.py decrypt  < {"private", "auth", "body_b64", "authorization", "endpoint",
                               "vapid_public_key"}
      Checks the request's `Authorization: vapid t=<JWT>, k=<key>` header: k is vapid_public_key
      (what GET /shop shows), the JWT is ES256 and verifies with k, its aud is the endpoint's
      origin (RFC 6454: scheme://host, plus :port unless the scheme's default), its exp is in the
      future and at most 24 hours away (RFC 8292 section 2), and it has a sub. Then decrypts
      body_b64 (standard or url-safe base64 of the raw body) with the subscription's private key
      and auth secret and writes the plaintext to stdout, as is, with no newline.

Exits 1 with the reason on stderr at the first check that fails. Install with
`pip install -r scripts/push-test.requirements.txt`.
"""
import base64
import binascii
import json
import os
import re
import sys
import time
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# RFC 8292 section 2: "exp" MUST NOT be more than 24 hours from the time of the request.
MAX_TOKEN_LIFETIME = 24 * 60 * 60


class Refused(Exception):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str, what: str) -> bytes:
    """base64url or standard base64, with or without padding."""
    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise Refused(f"{what} is not base64: {e}") from None


def keys() -> dict:
    private = ec.generate_private_key(ec.SECP256R1())
    point = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return {
        "p256dh": b64url(point),
        "auth": b64url(os.urandom(16)),
        "private": b64url(private.private_numbers().private_value.to_bytes(32, "big")),
    }


def origin(url: str) -> str:
    """The RFC 6454 serialization of a URL's origin, as RFC 8292 wants in "aud"."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"the endpoint {url!r} is not an http(s) URL")
    host = parts.hostname  # lowercased, without an IPv6 address's brackets
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def vapid_params(authorization: str) -> dict:
    """The auth-params of `vapid t=..., k=...` (RFC 8292 section 3), in any order."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise Refused(f"the Authorization scheme is {scheme!r}, not vapid")
    params = {}
    for item in rest.split(","):
        m = re.fullmatch(r"\s*([A-Za-z]+)\s*=\s*(\S+)\s*", item)
        if not m:
            raise Refused(f"cannot parse the Authorization parameter {item!r}")
        params[m.group(1).lower()] = m.group(2)
    for name in ("t", "k"):
        if name not in params:
            raise Refused(f"the Authorization header has no {name}=")
    return params


def verify_token(token: str, public_key: ec.EllipticCurvePublicKey, endpoint: str) -> dict:
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("the VAPID token is not a JWS compact serialization")
    try:
        header = json.loads(unb64(parts[0], "the JWT header"))
        claims = json.loads(unb64(parts[1], "the JWT claims"))
    except json.JSONDecodeError as e:
        raise Refused(f"the JWT is not JSON: {e}") from None
    if header.get("alg") != "ES256":
        raise Refused(f"the JWT's alg is {header.get('alg')!r}, not ES256")
    signature = unb64(parts[2], "the JWT signature")
    if len(signature) != 64:
        raise Refused(f"an ES256 signature is 64 bytes (r || s), this one {len(signature)}")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("the JWT's signature does not verify with k") from None

    expected = origin(endpoint)
    if claims.get("aud") != expected:
        raise Refused(f"the JWT's aud is {claims.get('aud')!r}, the endpoint's origin is {expected!r}")
    exp = claims.get("exp")
    now = time.time()
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Refused(f"the JWT's exp is {exp!r}, not a number of seconds")
    if exp <= now:
        raise Refused(f"the JWT expired {now - exp:.0f} s ago")
    if exp > now + MAX_TOKEN_LIFETIME:
        raise Refused(f"the JWT's exp is {exp - now:.0f} s away, more than 24 h")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Refused("the JWT has no sub (the sender's contact)")
    return claims


def decrypt(request: dict) -> bytes:
    for name in ("private", "auth", "body_b64", "authorization", "endpoint", "vapid_public_key"):
        if not isinstance(request.get(name), str):
            raise Refused(f"the input has no {name!r} string")

    params = vapid_params(request["authorization"])
    k = unb64(params["k"], "k")
    if k != unb64(request["vapid_public_key"], "vapid_public_key"):
        raise Refused(f"k={params['k']} is not the shop's VAPID public key {request['vapid_public_key']}")
    try:
        vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k)
    except ValueError:
        raise Refused("k is not a P-256 point") from None
    verify_token(params["t"], vapid_key, request["endpoint"])

    scalar = unb64(request["private"], "private")
    if len(scalar) != 32:
        raise Refused(f"private is {len(scalar)} bytes, not 32")
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    auth = unb64(request["auth"], "auth")
    if len(auth) != 16:
        raise Refused(f"auth is {len(auth)} bytes, not 16")
    body = unb64(request["body_b64"], "body_b64")
    try:
        return http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm")
    except Exception as e:  # ECEException, and whatever a malformed header makes it trip over
        raise Refused(f"the body does not decrypt: {getattr(e, 'message', None) or e!r}") from None


def main() -> int:
    command = sys.argv[1] if len(sys.argv) == 2 else None
    try:
        if command == "keys":
            print(json.dumps(keys()))
        elif command == "decrypt":
            try:
                request = json.load(sys.stdin)
            except json.JSONDecodeError as e:
                raise Refused(f"stdin is not JSON: {e}") from None
            if not isinstance(request, dict):
                raise Refused("stdin is not a JSON object")
            sys.stdout.buffer.write(decrypt(request))
            sys.stdout.flush()
        else:
            print("usage: push-receiver.py keys | decrypt < request.json", file=sys.stderr)
            return 2
    except Refused as e:
        print(f"push-receiver: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
