"""Verifies one Standard Webhooks delivery with the reference library.

Reads {"secret", "body", "headers"} as JSON on stdin; exits 0 when the
`standardwebhooks` package (PyPI) accepts the delivery, 1 when it refuses
it, printing why.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook

given = json.load(sys.stdin)
try:
    Webhook(given["secret"]).verify(given["body"], given["headers"])
except Exception as err:  # the library raises its own WebhookVerificationError
    print(f"refused: {err}")
    sys.exit(1)
print("verified")
