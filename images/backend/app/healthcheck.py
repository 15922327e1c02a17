"""Container health check: `python -m app.healthcheck` exits 0 when /api/health answers 200.

Standard library only, so it works in a slim runtime image (Docker HEALTHCHECK, or an exec probe).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "8000") or "8000"
    url = os.environ.get("HEALTHCHECK_URL") or f"http://127.0.0.1:{port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "3"))) as resp:
            body = resp.read(500).decode("utf-8", "replace")
            print(f"healthy: {resp.status} {body}")
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code} {exc.read(500).decode('utf-8', 'replace')}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url} unreachable ({exc})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
