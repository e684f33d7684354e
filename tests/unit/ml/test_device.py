"""INKBUS_DEVICE: auto takes a GPU only when one is visible, cuda without one is refused with one line, and the
batch limit follows the device. CPU is the tested path: these tests need no GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from pydantic import ValidationError

from foundation.settings import Settings
from inkbus.cli import main
from ml.serving import DeviceError, resolve_device

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible here, so cuda is accepted")


def test_auto_follows_what_is_visible_and_cpu_is_always_cpu():
    assert resolve_device("auto", lambda: False) == "cpu"
    assert resolve_device("auto", lambda: True) == "cuda"
    assert resolve_device("cpu", lambda: True) == "cpu"
    assert resolve_device("cuda", lambda: True) == "cuda"
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda", lambda: False)
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu", lambda: True)


def test_the_setting_takes_only_known_devices():
    assert Settings().device == "auto"
    with pytest.raises(ValidationError):
        Settings(device="gpu")


def test_a_bad_device_setting_is_refused_in_one_line():
    res = CliRunner(env={"INKBUS_DEVICE": "gpu"}).invoke(main, ["recognize", "-"], input="")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Error: invalid settings: INKBUS_DEVICE: Input should be 'auto', 'cpu' or 'cuda'" in res.output


def test_the_batch_limit_is_sized_for_the_device():
    s = Settings(batch_max=48, batch_max_cuda=1024)
    assert s.batch_limit("cpu") == 48 and s.batch_limit("cuda") == 1024
    assert s.for_device("cuda").batch_max == 1024 and s.for_device("cpu").batch_max == 48
    assert s.batch_max == 48  # the settings themselves are untouched


@NO_GPU
def test_auto_picks_the_cpu_on_this_machine(settings):
    from ml.recognizer import Recognizer

    rec = Recognizer(settings.model_path, device="auto")
    assert rec.device == "cpu"
    assert next(iter(rec.module.parameters()), torch.zeros(0)).device.type == "cpu"


@NO_GPU
def test_recognizer_refuses_cuda_without_a_gpu(settings):
    from ml.recognizer import Recognizer

    with pytest.raises(DeviceError, match="INKBUS_DEVICE=cuda"):
        Recognizer(settings.model_path, device="cuda")


@NO_GPU
@pytest.mark.parametrize(
    "args",
    [["recognize", "--device", "cuda", "-"], ["worker", "--device", "cuda"]],
    ids=["recognize", "worker"],
)
def test_commands_refuse_cuda_without_a_gpu_in_one_line(args):
    res = CliRunner().invoke(main, args, input="")
    assert res.exit_code == 1
    assert "Error: INKBUS_DEVICE=cuda but no CUDA GPU is visible" in res.output
    assert "Traceback" not in res.output and not isinstance(res.exception, DeviceError)


@NO_GPU
def test_inkbus_run_refuses_cuda_before_serving():
    # a child process: `run` patches the standard library with gevent, which must not happen inside pytest
    res = subprocess.run(
        [sys.executable, "-m", "inkbus.cli", "run", "--device", "cuda", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr[-2000:]
    assert "Error: INKBUS_DEVICE=cuda but no CUDA GPU is visible" in res.stderr and "Traceback" not in res.stderr


@NO_GPU
def test_the_environment_variable_is_read_by_the_worker_command():
    res = CliRunner(env={"INKBUS_DEVICE": "cuda"}).invoke(main, ["worker"])
    assert res.exit_code == 1 and "no CUDA GPU is visible" in res.output
