import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

from inkbus.cli import main
from tests.helpers import TEST_DATA, sample_ink


def run_cli(settings, args, stdin=None):
    runner = CliRunner()
    return runner.invoke(main, ["recognize", "--model", str(settings.model_path), *args], input=stdin)


def test_single_object_file(settings, tmp_path):
    row = sample_ink()[0]
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"strokes": row["strokes"]}, indent=2))
    res = run_cli(settings, [str(f), "--top", "3"])
    assert res.exit_code == 0, res.output
    (line,) = res.output.splitlines()
    out = json.loads(line)
    assert list(out) == ["top"] and len(out["top"]) == 3


def test_json_lines_pass_through_and_top_62(settings):
    rows = sample_ink()[:40]
    text = "".join(json.dumps({**r, "id": i}) + "\n" for i, r in enumerate(rows))
    res = run_cli(settings, ["-", "--top", "62", "--batch-size", "16"], stdin=text)
    assert res.exit_code == 0, res.output
    outs = [json.loads(x) for x in res.output.splitlines()]
    assert [o["id"] for o in outs] == list(range(40))
    assert all(o["label"] == r["label"] and o["writer"] == r["writer"] for o, r in zip(outs, rows, strict=True))
    assert all("strokes" not in o and len(o["top"]) == 62 for o in outs)
    assert abs(sum(t["p"] for t in outs[0]["top"]) - 1) < 1e-3


def test_bad_lines_get_errors_in_place_and_exit_1(settings):
    good = json.dumps({"strokes": sample_ink()[0]["strokes"], "id": "a"})
    text = "\n".join(
        [good, "{not json", json.dumps({"strokes": [], "id": "c"}), json.dumps({"strokes": [[[1, 1]]]}), good]
    )
    res = run_cli(settings, ["-"], stdin=text)
    assert res.exit_code == 1
    outs = [json.loads(x) for x in res.output.splitlines()]
    assert [o.get("error", {}).get("code") for o in outs] == [None, "invalid_json", "empty_ink", "degenerate_ink", None]
    assert outs[2]["id"] == "c" and "top" in outs[4]


def test_help_on_every_command():
    for cmd in ([], ["run"], ["edge"], ["worker"], ["recognize"]):
        res = CliRunner().invoke(main, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output


def test_console_script_reads_a_repo_test_file(settings):
    digit = next(p for p in sorted(TEST_DATA.glob("digit_*.json")))
    out = subprocess.run(
        [sys.executable, "-m", "inkbus.cli", "recognize", str(digit), "--model", str(settings.model_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["top"][0]["label"] == json.loads(digit.read_text())["label"]


def test_an_input_with_a_target_gets_its_practice_verdict(settings):
    """A teacher's worksheet: the verdict comes from the same rule as the page's (ml.practice.judge)."""
    from ml.practice import judge
    from ml.recognizer import Recognizer

    round_zero = [[[50, 0], [22, 8], [6, 30], [2, 55], [10, 80], [30, 97], [55, 100], [78, 90], [94, 65], [98, 40],
                   [88, 15], [70, 3], [50, 0]]]  # fmt: skip
    rows = [{"id": t, "target": t, "strokes": round_zero} for t in ("0", "O", "8")]
    rows.append({"id": "bad", "target": "%", "strokes": round_zero})
    text = "".join(json.dumps(r) + "\n" for r in rows)
    res = run_cli(settings, ["-", "--top", "3"], stdin=text)
    assert res.exit_code == 1  # the bad target
    outs = {o["id"]: o for o in map(json.loads, res.output.splitlines())}
    assert outs["bad"]["error"]["code"] == "invalid_target"
    assert outs["0"]["practice"]["correct"] and outs["O"]["practice"]["correct"]
    assert outs["8"]["practice"]["correct"] is False and outs["8"]["practice"]["hint"].startswith("your 8 looks like")
    rec = Recognizer(settings.model_path)
    p = rec.recognize([[np.asarray(round_zero[0], dtype=np.float32)]]).probs[0]
    for t in ("0", "O", "8"):
        assert outs[t]["practice"]["correct"] is judge(p, t, rec.rule).correct
        assert outs[t]["practice"]["rule"] == judge(p, t, rec.rule).rule
