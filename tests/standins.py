"""A local HTTP stand-in for the Slack and Discord APIs: records every request, answers with canned JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class StandIn:
    """``routes``: path suffix -> JSON body to answer (default ``{"ok": true}``)."""

    def __init__(self, routes: dict[str, dict] | None = None):
        self.requests: list[dict] = []
        self.routes = routes or {}
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def _answer(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                ctype = self.headers.get("content-type") or ""
                if "json" in ctype and raw:
                    body = json.loads(raw)
                elif raw:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    body = {}
                standin.requests.append({"method": self.command, "path": self.path, "body": body})
                reply = next((v for k, v in standin.routes.items() if self.path.split("?")[0].endswith(k)), None)
                out = json.dumps(reply if reply is not None else {"ok": True}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PATCH = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self, suffix: str) -> list[dict]:
        return [r for r in self.requests if r["path"].split("?")[0].endswith(suffix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
