"""The OpenPAYGO Token reference (the `openpaygo` package) behind a JSON-lines pipe.

lienlock's cross-check test (crates/cli/tests/openpaygo_reference.rs) writes one request
per line on stdin and reads one answer per line on stdout. This script holds no logic of its
own, so whatever it answers is what the reference does:

  {"op": "generate", "key", "starting_code", "count", "type", "value", "restricted",
   "extended"}              -> {"new_count", "token"}
  {"op": "decode", "key", "starting_code", "count", "used", "token", "restricted"}
                            -> {"type", "value", "count", "used"}
  {"op": "starting_code", "key"} -> {"starting_code"}

An exception in the reference becomes {"error": "ExceptionType: message"}.
"""

import json
import sys

from openpaygo import decode_token, generate_token
from openpaygo.token_shared import OpenPAYGOTokenShared, TokenType

TYPES = {
    "ADD_TIME": TokenType.ADD_TIME,
    "SET_TIME": TokenType.SET_TIME,
    "DISABLE_PAYG": TokenType.DISABLE_PAYG,
    "COUNTER_SYNC": TokenType.COUNTER_SYNC,
}
NAMES = {
    TokenType.ADD_TIME: "ADD_TIME",
    TokenType.SET_TIME: "SET_TIME",
    TokenType.DISABLE_PAYG: "DISABLE_PAYG",
    TokenType.COUNTER_SYNC: "COUNTER_SYNC",
    TokenType.INVALID: "INVALID",
    TokenType.ALREADY_USED: "ALREADY_USED",
}


def generate(req):
    new_count, token = generate_token(
        secret_key=req["key"],
        count=req["count"],
        value=req.get("value"),
        token_type=TYPES[req["type"]],
        starting_code=req["starting_code"],
        restricted_digit_set=req["restricted"],
        extended_token=req["extended"],
    )
    return {"new_count": new_count, "token": token}


def decode(req):
    value, token_type, count, used = decode_token(
        token=req["token"],
        secret_key=req["key"],
        count=req["count"],
        used_counts=req["used"],
        starting_code=req["starting_code"],
        restricted_digit_set=req["restricted"],
    )
    # With a value divider of 1 the reference still divides, so values come back as floats.
    return {
        "type": NAMES[token_type],
        "value": None if value is None else int(value),
        "count": count,
        "used": used,
    }


def starting_code(req):
    key = OpenPAYGOTokenShared.load_secret_key_from_hex(req["key"])
    return {"starting_code": OpenPAYGOTokenShared.generate_starting_code(key)}


OPS = {"generate": generate, "decode": decode, "starting_code": starting_code}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            answer = OPS[req["op"]](req)
        except Exception as e:  # the reference's own failures are data for the test
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
