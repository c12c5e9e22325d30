"""Summarises a Schemathesis NDJSON report (./scripts/api-fuzz.sh): the number of requests sent,
and per (operation, check) failure one example request and response. Exit 1 if fewer than
MIN requests were sent: python3 summary.py REPORT.ndjson MIN [--examples]"""

import base64
import collections
import json
import sys


def decode(body):
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"]).decode("utf-8", "replace")
    return body


def main():
    path, minimum = sys.argv[1], int(sys.argv[2])
    examples = "--examples" in sys.argv
    requests = 0
    failures = collections.Counter()
    first = {}
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            rec = finished.get("recorder") or {}
            interactions = rec.get("interactions") or {}
            requests += len(interactions)
            for case_id, checks in (rec.get("checks") or {}).items():
                for check in checks:
                    if str(check.get("status")).lower() == "success":
                        continue
                    info = (check.get("failure_info") or {}).get("failure") or {}
                    key = (info.get("operation") or finished.get("label") or "?", check["name"])
                    failures[key] += 1
                    if key not in first:
                        first[key] = (info, interactions.get(case_id))
    print(f"requests sent: {requests}")
    for (op, name), n in sorted(failures.items()):
        print(f"FAILED {op} {name} ×{n}")
        if examples:
            info, inter = first[(op, name)]
            print("   ", (info.get("message") or "").replace("\n", " | ")[:400])
            if inter:
                req, resp = inter["request"], inter.get("response") or {}
                print("    >", req["method"], req["uri"], str(decode(req.get("body")))[:300])
                print("    <", resp.get("status_code"), str(decode(resp.get("content")))[:300])
    if requests < minimum:
        print(f"only {requests} requests were sent; at least {minimum} are required")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
