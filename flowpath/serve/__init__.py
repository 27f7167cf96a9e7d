"""``flowpath serve``: the attribution agent as an HTTP API and a page to try it in (FastAPI on uvicorn).

:func:`create_app` builds the app from :class:`ServeSettings`; :func:`run_server` serves it. The routes are
documented in ``docs/serve.md`` and at ``/openapi.json``.

Examples
--------
>>> from fastapi.testclient import TestClient
>>> with TestClient(create_app(ServeSettings(executor="thread", warm=False))) as client:
...     r = client.post("/v1/attribute", data={"graph": "flowchart TD\\n A[Start] --> B[Stop]",
...                                            "question": "What comes after Start?", "answer": "Stop",
...                                            "policy": "symbolic"})
>>> r.status_code, [n["id"] for n in r.json()["nodes"]]
(200, ['A', 'B'])
"""

from flowpath.serve.app import create_app, run_server
from flowpath.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "run_server"]
