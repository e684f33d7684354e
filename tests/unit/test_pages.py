"""The drawing page and its npm packages, served by the edge itself (no CDN)."""

from __future__ import annotations

import pytest

from web.app import create_app


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
    assert 'src="/vendor/socket.io.min.js"' in html and 'src="/static/app.js"' in html
    assert "https://" not in html and "http://" not in html  # nothing fetched from elsewhere


def test_static_files_are_served(http):
    for path in ("/static/app.js", "/static/style.css"):
        res = http.get(path)
        assert res.status_code == 200, path
        res.close()


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
