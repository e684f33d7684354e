"""Shipping configs that cannot run here (Telegraf, Filebeat, Logstash, Elasticsearch): parsed and checked."""

from __future__ import annotations

import json
import logging
import re
import tomllib

import yaml

from foundation.logs import JsonFormatter
from foundation.settings import REPO_ROOT

OBS = REPO_ROOT / "observability"


def test_telegraf_reads_rabbitmq_the_host_and_prometheus_into_influxdb_v2():
    conf = tomllib.loads((OBS / "telegraf" / "telegraf.conf").read_text())
    inputs, outputs = conf["inputs"], conf["outputs"]
    assert {"rabbitmq", "cpu", "mem", "disk", "system", "prometheus"} <= set(inputs)
    assert set(outputs) == {"influxdb_v2"}
    rabbit = inputs["rabbitmq"][0]
    assert rabbit["url"] and rabbit["username"] and rabbit["password"]
    assert rabbit["queue_name_include"] == ["inkbus.*"]
    assert len(inputs["prometheus"][0]["urls"]) == 3
    out = outputs["influxdb_v2"][0]
    assert {"urls", "token", "organization", "bucket"} <= set(out)
    assert conf["agent"]["metric_buffer_limit"] >= conf["agent"]["metric_batch_size"]
    assert "${" in out["token"]  # a secret from the environment, never in the file


def _logstash_blocks(text: str) -> dict:
    """A small parser of Logstash's config syntax: ``name { ... }`` blocks, ``key => value`` settings."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|=>|[{}\[\],]|[^\s{}\[\],"]+', text)
    pos = 0

    def block() -> dict:
        nonlocal pos
        out: dict = {}
        while pos < len(tokens) and tokens[pos] != "}":
            name = tokens[pos]
            if tokens[pos + 1] == "=>":
                pos += 2
                depth, start = 0, pos
                while True:  # a value: a string, a word, or a bracketed/braced structure
                    depth += tokens[pos] in "[{"
                    depth -= tokens[pos] in "]}"
                    pos += 1
                    if depth == 0:
                        break
                out[name] = tokens[start:pos]
            else:
                assert tokens[pos + 1] == "{", f"expected a block after {name!r}"
                pos += 2
                out.setdefault(name, []).append(block())
                assert tokens[pos] == "}"
                pos += 1
        return out

    parsed = block()
    assert pos == len(tokens), "unbalanced braces"
    return parsed


def test_elk_pipeline_filebeat_to_logstash_to_elasticsearch():
    beat = yaml.safe_load((OBS / "elk" / "filebeat.yml").read_text())
    (inp,) = beat["filebeat.inputs"]
    assert inp["type"] == "filestream" and inp["parsers"][0]["ndjson"]["message_key"] == "event"
    assert "output.logstash" in beat
    pipe = _logstash_blocks((OBS / "elk" / "logstash.conf").read_text())
    assert set(pipe) == {"input", "filter", "output"}
    assert "beats" in pipe["input"][0] and pipe["input"][0]["beats"][0]["port"] == ["5044"]
    assert {"date", "mutate"} <= set(pipe["filter"][0])
    es = pipe["output"][0]["elasticsearch"][0]
    assert es["index"][0].startswith('"inkbus-logs-')
    template = json.loads((OBS / "elk" / "index-template.json").read_text())
    assert template["index_patterns"] == ["inkbus-logs-*"]
    ids = template["template"]["mappings"]["properties"]["inkbus"]["properties"]
    assert {k: v["type"] for k, v in ids.items()} == {
        "job_id": "keyword",
        "conn_id": "keyword",
        "drawing_id": "keyword",
    }


def test_json_logs_carry_the_job_and_connection_ids():
    record = logging.LogRecord("inkbus.sockets", logging.INFO, __file__, 1, "job published", None, None)
    record.job_id, record.conn_id = "j1", "sid-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["job_id"] == "j1" and line["conn_id"] == "sid-1" and line["event"] == "job published"
    # Every field the Logstash filter renames is one the app logs.
    renamed = re.findall(r'"(\w+)" => "\[inkbus\]', (OBS / "elk" / "logstash.conf").read_text())
    assert set(renamed) == {"conn_id", "job_id", "drawing_id"}
