"""``/api/docs``: the OpenAPI document as a page, rendered here from ``web/openapi.py``.

A server-side rendering needs no front-end package and no script: the page is the spec, read aloud.
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template

from web.openapi import openapi_document

bp = Blueprint("apidocs", __name__)


def _schema_text(schema: dict | None, components: dict) -> str:
    """A schema as indented JSON, its ``$ref``s replaced by what they name (one level: enough to read)."""
    if not schema:
        return ""

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                return components.get(ref.rsplit("/", 1)[1], node)
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return json.dumps(resolve(resolve(schema)), indent=2)


def operations(doc: dict) -> list[dict]:
    """Every (path, method) of the document, flattened for the template."""
    components = doc.get("components", {}).get("schemas", {})
    out = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = [
                {
                    "status": status,
                    "description": r.get("description", ""),
                    "schema": _schema_text(r.get("content", {}).get("application/json", {}).get("schema"), components),
                }
                for status, r in op.get("responses", {}).items()
            ]
            out.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").strip("-"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "parameters": op.get("parameters", []),
                    "body": _schema_text(body, components),
                    "responses": responses,
                }
            )
    return out


@bp.get("/api/docs")
def api_docs():
    doc = openapi_document()
    return render_template("apidocs.html", info=doc["info"], operations=operations(doc))
