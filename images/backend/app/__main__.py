"""`python -m app`: run the API with uvicorn on $HOST:$PORT (default 0.0.0.0:8000)."""

from __future__ import annotations

import os


def main() -> None:
    import uvicorn

    port = int(os.environ.get("PORT", "8000") or 8000)
    host = os.environ.get("HOST", "0.0.0.0") or "0.0.0.0"
    uvicorn.run("app.main:app", host=host, port=port, proxy_headers=True,
                forwarded_allow_ips="*", access_log=False)


if __name__ == "__main__":
    main()
