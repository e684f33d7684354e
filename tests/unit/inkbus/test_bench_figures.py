"""The benchmark's derived figures: CPU per recognition, cost against the reference model, the baseline tree."""

from inkbus.bench.live import cpu_ms_per_recognition, median_run
from inkbus.bench.report import cpu_rows, paired_rows, target_rows
from inkbus.bench.run import _ratios
from inkbus.bench.runtime import _ratios as cost_rows
from inkbus.bench.runtime import cost_ratios


def test_cpu_per_recognition_sums_the_server_processes_and_leaves_the_drawers_out():
    before = {"edge": 10.0, "worker": 20.0, "rabbitmq": 5.0, "drawers": 1.0, "machine": 100.0}
    after = {"edge": 10.9, "worker": 21.2, "rabbitmq": 5.3, "drawers": 9.0, "machine": 200.0}
    out = cpu_ms_per_recognition(before, after, 600)
    assert out == {"edge": 1.5, "worker": 2.0, "rabbitmq": 0.5, "server": 4.0}
    assert cpu_ms_per_recognition(before, after, 0) == {}


def row(model, runtime, batch, ms):
    return {"model": model, "runtime": runtime, "batch": batch, "ms_per_sample": ms}


def test_costs_are_compared_with_the_reference_model_as_it_was_served():
    rows = [
        row("reference", "torchscript", 1, 3.0),
        row("reference", "onnxruntime fp32", 1, 1.5),
        row("served", "torchscript", 1, 1.2),
        row("served", "onnxruntime fp32", 1, 0.6),
        row("served", "onnxruntime int8", 1, 0.3),
        row("reference", "torchscript", 64, 1.0),
        row("served", "torchscript", 64, 0.5),
        row("served", "onnxruntime fp32", 64, 0.4),
        row("candidate", "torchscript", 1, 0.9),
        row("candidate", "onnxruntime fp32", 1, 0.45),
        row("candidate", "torchscript", 64, 0.3),
    ]
    cost_rows(rows)
    by = {(x["model"], x["runtime"], x["batch"]): x for x in rows}
    assert by[("served", "onnxruntime fp32", 1)]["cost_vs_reference"] == 0.2
    assert by[("served", "onnxruntime fp32", 1)]["speedup_vs_torchscript"] == 2.0
    assert by[("reference", "onnxruntime fp32", 1)]["cost_vs_reference"] == 0.5
    # int8 changes the answers: the target is judged on the faster fp32 runtime
    assert cost_ratios({"runtime": {"rows": rows}}) == {
        "cost_vs_reference_batch1": 0.2,
        "cost_vs_reference_batch64": 0.4,
        "candidate_cost_vs_reference_batch1": 0.15,
        "candidate_cost_vs_reference_batch64": 0.3,
    }


def live_run(drawers, p99, server_ms, tree=None):
    run = {
        "drawers": drawers,
        "latency_ms": {"p50": p99 / 2, "p95": p99, "p99": p99, "n": 100},
        "cpu_ms_per_recognition": {"edge": 1.0, "worker": server_ms - 1.5, "rabbitmq": 0.5, "server": server_ms},
    }
    return run | ({"tree": tree} if tree else {})


def result(baseline):
    r = {
        "ceiling": {"worker_batch1": {"ms_per_sample": 3.0}, "best_samples_per_s": 1000},
        "live": [live_run(50, 20.0, 3.0), live_run(200, 40.0, 2.0), live_run(1000, 900.0, 2.5)],
        "saturation": {"saturated_per_s": 500},
        "drain_unbatched": {"throughput_per_s": 100},
        "drain_batched": {"throughput_per_s": 400},
    }
    if baseline:  # one round of the two trees in turn, as ``inkbus bench --tiny`` runs them
        base = live_run(200, 160.0, 5.0, tree="abc1234")
        r["baseline"] = {**base, "rounds": [{"this": live_run(200, 40.0, 2.0), "baseline": base}]}
    return r


def test_the_baseline_tree_gives_the_200_drawer_ratios_and_their_targets():
    r = result(baseline=True)
    r["ratios"] = ratios = _ratios(r)
    assert ratios["server_cpu_ms_per_recognition"] == 2.0
    assert ratios["server_cpu_vs_baseline_tree"] == 0.4 and ratios["p99_vs_baseline_tree"] == 0.25
    targets = {line.split(" | ")[0].lstrip("| "): line for line in target_rows(r)}
    assert targets["server CPU per recognition at N = 200 / the baseline tree's"].endswith("| yes |")
    assert targets["pen-up -> prediction p99 at N = 200 / the baseline tree's"].endswith("| yes |")
    table = cpu_rows(r)
    assert (
        table[1] == "| CPU ms per recognition | 50 drawers | 200 drawers | 1000 drawers | 200 drawers, tree abc1234 |"
    )
    assert table[-1] == "| all three | 3.0 | 2.0 | 2.5 | 5.0 |"


def test_events_per_recognition_and_the_cost_per_streamed_event_are_reported():
    r = result(baseline=True)
    for x, events in zip(r["live"], (6.4, 6.5, 6.6), strict=True):
        x["events_per_recognition"] = events
    r["streaming"] = {**live_run(200, 0.0, 0.0), "events_per_s": 2000.0, "edge_cpu_ms_per_event": 0.12}
    r["ratios"] = ratios = _ratios(r)
    assert ratios["events_per_recognition"] == 6.5 and ratios["edge_cpu_ms_per_streamed_event"] == 0.12
    table = cpu_rows(r)
    assert "| events sent per recognition | 6.4 | 6.5 | 6.6 |  |" in table  # the baseline run did not count them
    assert table[-1].endswith("200 drawers): 0.12 ms.")


def test_without_a_baseline_tree_there_is_no_ratio_to_claim():
    r = result(baseline=False)
    r["ratios"] = ratios = _ratios(r)
    assert "p99_vs_baseline_tree" not in ratios and "server_cpu_vs_baseline_tree" not in ratios
    line = next(x for x in target_rows(r) if "baseline tree" in x and "CPU" in x)
    assert line.endswith("| None | <= 0.45x | no |")


def paired(rounds):
    """A result whose baseline ran in turn with this tree: ``rounds`` of ((CPU, p99) here, (CPU, p99) there)."""
    r = result(baseline=False)
    runs = [
        {"this": live_run(200, p, c), "baseline": live_run(200, bp, bc, tree="abc1234")} for (c, p), (bc, bp) in rounds
    ]
    r["baseline"] = {**median_run([x["baseline"] for x in runs]), "rounds": runs}
    return r


def test_paired_rounds_compare_medians_so_one_odd_round_does_not_set_the_ratio():
    # the baseline's second round ran on a quiet machine (as one full run did): alone it would give 0.8x
    r = paired([((4.0, 400.0), (8.0, 1000.0)), ((4.4, 500.0), (5.0, 500.0)), ((3.6, 450.0), (9.0, 900.0))])
    r["ratios"] = ratios = _ratios(r)
    assert ratios["server_cpu_vs_baseline_tree"] == 0.5  # median 4.0 against median 8.0
    assert ratios["p99_vs_baseline_tree"] == 0.5  # median 450 against median 900
    assert ratios["baseline_rounds"] == 3
    assert r["baseline"]["cpu_ms_per_recognition"]["server"] == 8.0  # the table's baseline row is the median round
    rows = paired_rows(r)
    assert rows[1].startswith("| 200 drawers, in turn | this tree: CPU ms / p99 ms | tree abc1234: CPU ms / p99 ms |")
    assert rows[3] == "| round 1 | 4.0 / 400.0 | 8.0 / 1000.0 | 0.500 | 0.400 |"
    assert rows[4] == "| round 2 | 4.4 / 500.0 | 5.0 / 500.0 | 0.880 | 1.000 |"
    assert rows[-1] == "| median | 4.0 / 450.0 | 8.0 / 900.0 | 0.5 | 0.5 |"


def test_one_round_without_answers_gives_no_ratio_rather_than_a_wrong_one():
    r = paired([((4.0, 400.0), (8.0, 1000.0))])
    r["baseline"]["rounds"][0]["baseline"]["latency_ms"]["p99"] = None  # no prediction came back in that run
    assert "server_cpu_vs_baseline_tree" not in _ratios(r)


class LateReplies:
    """A load generator that reads some answers only after the window: their stamps say when they were made."""

    class bridge:
        edge_id = "edge-late"

    def __init__(self):
        self.arrived, self.events = {}, {}

    def answer(self, job_id, produced_at):
        self.arrived[job_id] = 0.0
        self.events[job_id] = {"job_id": job_id, "type": "prediction", "produced_at": produced_at}


class AnsweringProducer:
    def __init__(self, replies, backlog):
        self.replies, self.backlog, self.sent = replies, backlog, 0

    def publish(self, body, **_kw):
        import time

        self.sent += 1
        if self.sent == 1:  # a previous window's answers, read only now
            for i in range(self.backlog):
                self.replies.answer(f"old-{i}", time.time() - 60)
        self.replies.answer(f"new-{self.sent}", time.time())


def test_saturation_counts_the_answers_made_in_its_window_not_those_read_in_it():
    from inkbus.bench.common import load_sample
    from inkbus.bench.saturation import _offer

    replies = LateReplies()
    producer = AnsweringProducer(replies, backlog=500)
    step = _offer(producer, replies, load_sample(4), rate=50, seconds=0.4)
    assert step["sent"] == producer.sent >= 19
    # every job sent in the window was answered in it; the 500 late answers of an earlier window are not counted
    assert step["window_s"] >= 0.4
    assert _per_window(step, producer.sent) and step["throughput_per_s"] <= 62.5


def _per_window(step: dict, answered: int) -> bool:
    """The step's figure is ``answered`` over its window (``window_s`` is rounded to the millisecond)."""
    return abs(step["throughput_per_s"] - answered / step["window_s"]) <= 0.01 * step["throughput_per_s"] + 0.1


class HeldBackProducer(AnsweringProducer):
    """A broker that holds one publish back for half a second (flow control under a backlog), while the workers
    answer 30 jobs queued in an earlier step: made in this window, which ran long."""

    def publish(self, body, **kw):
        import time

        if self.sent == 15:  # about 0.3 s into a 0.4 s window
            time.sleep(0.5)
            for i in range(30):
                self.replies.answer(f"queued-{i}", time.time())
        super().publish(body, **kw)


def test_saturation_divides_by_the_window_as_it_ran_when_a_publish_is_held_back():
    from inkbus.bench.common import load_sample
    from inkbus.bench.saturation import _offer

    replies = LateReplies()
    producer = HeldBackProducer(replies, backlog=0)
    step = _offer(producer, replies, load_sample(4), rate=50, seconds=0.4)
    made = producer.sent + 30
    assert step["window_s"] >= 0.75
    assert _per_window(step, made)
    assert made / 0.4 > 100 > step["throughput_per_s"]  # divided by the planned 0.4 s it would read 115/s


class SlowProducer(AnsweringProducer):
    """A load generator that publishes at most 500 jobs/s (2 ms a job), answered at once."""

    def publish(self, body, **kw):
        import time

        time.sleep(0.002)
        super().publish(body, **kw)


def test_a_load_generator_that_cannot_keep_up_stops_at_the_end_of_its_window():
    from inkbus.bench.common import load_sample
    from inkbus.bench.saturation import _offer

    replies = LateReplies()
    producer = SlowProducer(replies, backlog=0)
    step = _offer(producer, replies, load_sample(4), rate=2000, seconds=0.3)
    # catching up on the jobs due would have run on to about 0.45 s
    assert step["window_s"] < 0.4 and step["sent"] < 2000 * 0.3
    assert _per_window(step, producer.sent)
