"""The drawing page, its protocol module and its npm packages, served by the edge itself (no CDN)."""

from __future__ import annotations

import re

import pytest

from foundation.settings import REPO_ROOT
from foundation.version import __version__
from web.app import create_app

STATIC = REPO_ROOT / "web" / "static"


@pytest.fixture
def http(settings):
    app, _ = create_app(settings, broker_url="memory://", start_bridge=False)
    return app.test_client()


def test_the_page_has_the_pad_the_guess_and_local_scripts(http):
    res = http.get("/")
    assert res.status_code == 200 and res.mimetype == "text/html"
    html = res.get_data(as_text=True)
    for needle in ('id="pad"', 'id="top1"', 'id="undo"', 'id="clear"', 'id="model"', 'id="rtt-ms"'):
        assert needle in html
    assert 'src="/vendor/socket.io.min.js"' in html and '<script type="module" src="/static/app.js">' in html
    assert "https://" not in html and "http://" not in html  # nothing fetched from elsewhere


def test_static_files_are_served(http):
    for path in ("/static/app.js", "/static/inkbus-socket.js", "/static/tutor.js", "/static/style.css"):
        res = http.get(path)
        assert res.status_code == 200, path
        if path.endswith(".js"):  # browsers refuse an ES module served as anything else
            assert res.mimetype in ("text/javascript", "application/javascript"), path
        res.close()


def test_the_protocol_module_is_versioned_with_the_openapi_document(http):
    js = (STATIC / "inkbus-socket.js").read_text()
    [version] = re.findall(r'export const PROTOCOL_VERSION = "([^"]+)";', js)
    assert version == __version__ == http.get("/api/v1/openapi.json").get_json()["info"]["version"]


def test_the_protocol_module_names_the_documented_events():
    js = (STATIC / "inkbus-socket.js").read_text()
    doc = (REPO_ROOT / "docs" / "PROTOCOL.md").read_text().split("## Socket.IO", 1)[1]
    client = re.search(r"### Client → server\n(.*?)\n###", doc, re.S).group(1)
    server = re.search(r"### Server → client\n(.*?)\n###", doc, re.S).group(1)
    documented_client = set(re.findall(r"^\| `(\w+)` \|", client, re.M)) | {"check"}  # `check`: practice
    documented_server = set(re.findall(r"^\| `(\w+)` \|", server, re.M))

    def exported(name: str) -> set[str]:
        return set(re.findall(r'"(\w+)"', re.search(rf"export const {name} = Object.freeze\(\[(.*?)\]", js).group(1)))

    assert exported("CLIENT_EVENTS") == documented_client == {"stroke", "undo", "clear", "check"}
    assert exported("SERVER_EVENTS") == documented_server == {"prediction", "error", "feedback"}
    for event in documented_client - {"stroke"}:  # each sent by its own method
        assert re.search(rf'(emit|_action)\("{event}"', js), event


def test_the_page_speaks_the_protocol_only_through_the_module():
    for page in ("app.js", "tutor.js"):
        js = (STATIC / page).read_text()
        assert "socket.emit" not in js and "socket.on" not in js and "io(" not in js, page
    assert 'from "./inkbus-socket.js"' in (STATIC / "app.js").read_text()


def test_socket_io_client_comes_from_node_modules(http, settings):
    lib = settings.node_modules_dir / "socket.io-client" / "dist" / "socket.io.min.js"
    assert lib.is_file(), "web/node_modules is missing: run `make install` (npm ci in web/)"
    res = http.get("/vendor/socket.io.min.js")
    assert res.status_code == 200 and "javascript" in res.mimetype
    assert res.get_data() == lib.read_bytes()


@pytest.mark.parametrize("name", ["package.json", "..%2Fpackage.json", "socket.io.js"])
def test_only_listed_vendor_files_are_served(http, name):
    res = http.get(f"/vendor/{name}")
    assert res.status_code == 404


def test_a_missing_npm_install_says_what_to_do(settings, tmp_path):
    app, _ = create_app(settings.model_copy(update={"node_modules_dir": tmp_path}), start_bridge=False)
    res = app.test_client().get("/vendor/socket.io.min.js")
    assert res.status_code == 404
    err = res.get_json()["error"]
    assert err["code"] == "vendor_missing" and "make install" in err["message"]
