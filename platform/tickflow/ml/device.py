"""Where XGBoost trains: the GPU when one is visible and usable, else the CPU.

``device="cuda"`` needs a visible NVIDIA GPU *and* an XGBoost built with CUDA (the ``gpu``
extra's ``xgboost`` wheel; the default runtime installs ``xgboost-cpu``). Anything short of
both falls back to the CPU with one log line saying why. ``TICKFLOW_TRAIN_DEVICE`` (``cpu`` or
``cuda``) overrides the detection.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from tickflow.config import Settings, load_settings

log = logging.getLogger(__name__)

DEVICE_ENV = "TICKFLOW_TRAIN_DEVICE"


def visible_gpus(settings: Settings | None = None) -> int:
    """NVIDIA GPUs this process may use (``nvidia-smi -L``, less an empty CUDA_VISIBLE_DEVICES)."""
    settings = settings or load_settings()
    if settings.cuda_visible_devices in ("", "-1"):
        return 0
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def xgboost_has_cuda() -> bool:
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA", False))


def training_device(settings: Settings | None = None) -> str:
    """``"cuda"`` or ``"cpu"`` (``settings.train_device`` when set); logs one line when
    falling back to the CPU."""
    settings = settings or load_settings()
    forced = settings.train_device
    if forced in ("cpu", "cuda"):
        log.info("training on %s (%s=%s)", forced, DEVICE_ENV, forced)
        return forced
    gpus = visible_gpus(settings)
    if gpus and xgboost_has_cuda():
        log.info("training on the GPU (device=cuda; %d visible)", gpus)
        return "cuda"
    why = ("no GPU visible" if not gpus else
           f"{gpus} GPU(s) visible but this xgboost has no CUDA support (install the gpu extra)")
    log.warning("training on the CPU: %s", why)
    return "cpu"
