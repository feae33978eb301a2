"""Verifies captured webhook deliveries with the Standard Webhooks reference library.

Reads a JSON list of {"headers": {...}, "body": "..."} on stdin and the endpoint's secret as
the first argument; exits non-zero (with the reason) at the first delivery that does not verify.
Used by tests/api/webhooks.rs.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

secret = sys.argv[1]
deliveries = json.load(sys.stdin)
hook = Webhook(secret)
for d in deliveries:
    hook.verify(d["body"], d["headers"])
print(f"{len(deliveries)} deliveries verified")
