"""Regenerates access_rs256.json: a real RS256 key set and Cloudflare-Access-shaped tokens.

The pure auth layer never verifies RSA; this vector lets its tests use genuine tokens, and lets
the Worker's WebCrypto glue be tested against known answers (`valid` says whether the signature
over the signing input verifies with the key named by `kid`). Run: python3 gen_access_rs256.py
(needs the `cryptography` package). The private key is thrown away.
"""

import base64
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TEAM = "paulp.cloudflareaccess.com"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
NOW = 1767225600  # 2026-01-01T00:00:00Z
KID = "6a0d4bd34b0bbb1da1b4c3e8d7c3d1f7a1a51f1f9cbbd8d1d4ccd9f4f0e1a2b3"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pub = key.public_key().public_numbers()


def sign(header: dict, claims: dict) -> str:
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


header = {"alg": "RS256", "kid": KID, "typ": "JWT"}
user = {
    "aud": [AUD],
    "email": "alice@example.com",
    "exp": NOW + 86400,
    "iat": NOW - 60,
    "nbf": NOW - 60,
    "iss": "https://" + TEAM,
    "type": "app",
    "identity_nonce": "6ei69kawdKzMIAPF",
    "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
    "country": "US",
}
service = {
    "aud": [AUD],
    "common_name": "88bf3b6d86161464f6509f7219099e57.access",
    "exp": NOW + 86400,
    "iat": NOW - 60,
    "nbf": NOW - 60,
    "iss": "https://" + TEAM,
    "type": "app",
    "identity_nonce": "0ZeMyDQvAOhRHEJg",
    "sub": "",
}

user_jwt = sign(header, user)
h, p, s = user_jwt.split(".")
# Same signature, payload re-encoded with another email: must not verify.
forged_claims = dict(user, email="mallory@example.com")
forged_jwt = h + "." + b64(json.dumps(forged_claims, separators=(",", ":")).encode()) + "." + s

vector = {
    "team_domain": TEAM,
    "aud": AUD,
    "now": NOW,
    "jwks": {
        "keys": [
            {"kid": KID, "kty": "RSA", "alg": "RS256", "use": "sig", "e": uint(pub.e), "n": uint(pub.n)},
        ],
        "public_cert": {"kid": KID, "cert": "(omitted)"},
        "public_certs": [],
    },
    "tokens": [
        {"name": "user", "jwt": user_jwt, "identity": "alice@example.com", "valid": True},
        {
            "name": "service",
            "jwt": sign(header, service),
            "identity": "88bf3b6d86161464f6509f7219099e57.access",
            "valid": True,
        },
        {"name": "forged_payload", "jwt": forged_jwt, "identity": "mallory@example.com", "valid": False},
    ],
}

with open(__file__.replace("gen_access_rs256.py", "access_rs256.json"), "w") as out:
    json.dump(vector, out, indent=2)
    out.write("\n")
