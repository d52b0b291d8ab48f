"""Static facts of the user-code images (no Docker engine here to build them): pinned bases,
multi-stage, non-root numeric user, the code location copied in, the command the Dagster
chart runs, and Python packages from the locks."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest

from tests.deploy.dockerfiles import dockerfile_cmd, dockerfile_expose, exec_form, final, parse
from tests.deploy.manifests import ROOT

DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")
CODE_LOCATION = ("definitions.py", "workspace.yaml", "assets/", "sensors/", "resources/", "platform/")
DEV_ONLY = {"pytest", "pytest-timeout", "hypothesis", "ruff", "mypy", "kubernetes-validate"}


def lock_pins(path: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(3)
    return pins


def requirement_pins(reqs: list[str]) -> dict[str, str]:
    out = {}
    for r in reqs:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)$", r)
        assert m, f"unpinned requirement {r!r}"
        out[m.group(1).lower()] = m.group(3)
    return out


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_bases_are_pinned(dockerfile: str) -> None:
    _, stages = parse(dockerfile)
    assert len(stages) >= 2, "multi-stage build"
    names = {s.name for s in stages if s.name}
    for s in stages:
        if s.base in names:
            continue
        image, _, digest = s.base.partition("@")
        repo, _, tag = image.rpartition(":")
        assert repo and tag, f"{s.base}: no tag"
        assert tag != "latest", s.base
        assert digest.startswith("sha256:") or re.search(r"\d+\.\d+\.\d+", tag), f"{s.base}: not an exact version"


def test_cpu_and_gpu_bases() -> None:
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", final("Dockerfile").base)
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu22\.04", final("Dockerfile.gpu").base)
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in py and "<3.12" in py


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_runs_as_numeric_non_root(dockerfile: str) -> None:
    stage = final(dockerfile)
    users = stage.all("USER")
    assert users, "no USER in the final stage"
    user = users[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, user
    assert not gid or (gid.isdigit() and int(gid) > 0), user
    # the user is the last word: nothing after it runs as root
    ops = [op for op, _ in stage.instructions]
    assert "RUN" not in ops[ops.index("USER"):], "RUN after USER"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_code_location_in_workdir(dockerfile: str) -> None:
    args, stages = parse(dockerfile)
    workdir = final(dockerfile).all("WORKDIR")[-1]
    copied = [c for s in stages for c in s.all("COPY")]
    for path in CODE_LOCATION:
        assert any(re.search(rf"(^|\s){re.escape(path)}(\s|$)", c) for c in copied), f"{path} not copied"
    # the build stage copies them under the same WORKDIR the final stage runs in
    build = next(s for s in stages if s.all("COPY") and any("definitions.py" in c for c in s.all("COPY")))
    assert build.all("WORKDIR")[-1] == workdir
    assert any(c == f"--from={build.name} {workdir} {workdir}" for c in final(dockerfile).all("COPY"))
    workspace = (ROOT / "workspace.yaml").read_text()
    assert "relative_path: definitions.py" in workspace and "working_directory: ." in workspace


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_entrypoint_keeps_the_charts_args(dockerfile: str) -> None:
    """The Dagster chart and the K8sRunLauncher set the container's args (never command):
    the ENTRYPOINT must pass them through, and CMD is the code server."""
    stage = final(dockerfile)
    [entry] = stage.all("ENTRYPOINT")
    assert exec_form(entry) == ["/opt/venv/bin/dumb-init", "--"]
    cmd = dockerfile_cmd(dockerfile)
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0"
    assert int(cmd[cmd.index("-p") + 1]) == dockerfile_expose(dockerfile)
    assert cmd[cmd.index("-f") + 1] == "definitions.py"
    env = " ".join(stage.all("ENV"))
    assert "PATH=/opt/venv/bin:" in env
    assert "NUMBA_CACHE_DIR=/tmp/" in env, "numba's cache must be writable under a read-only root"
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in env


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_installs_from_the_runtime_lock(dockerfile: str) -> None:
    _, stages = parse(dockerfile)
    runs = " ".join(r for s in stages for r in s.all("RUN"))
    copies = " ".join(c for s in stages for c in s.all("COPY"))
    assert "requirements/runtime.lock" in copies
    assert "uv pip sync" in runs
    assert "dev.lock" not in runs + copies
    for extra in re.findall(r'"([A-Za-z0-9_.\-]+==[^"]+)"', runs):
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==\d[\w.]*", extra), extra


def test_runtime_lock_is_dev_lock_minus_dev_tools() -> None:
    runtime, dev = lock_pins("requirements/runtime.lock"), lock_pins("requirements/dev.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: runtime {version} vs dev {dev.get(name)}"
    for name, version in requirement_pins(project["dependencies"]).items():
        assert runtime.get(name) == version, f"{name} missing or different in runtime.lock"
    assert not DEV_ONLY & set(runtime)


def test_gpu_image_swaps_xgboost() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    gpu = requirement_pins(project["optional-dependencies"]["gpu"])
    runs = " ".join(r for s in parse("Dockerfile.gpu")[1] for r in s.all("RUN"))
    assert "grep -v '^xgboost-cpu=='" in runs, "xgboost-cpu and xgboost both provide the xgboost module"
    installed = dict(re.findall(r'"([A-Za-z0-9_.\-]+)==([^"]+)"', runs))
    for name, version in gpu.items():
        assert installed.get(name) == version, f"gpu extra {name}=={version} not installed"
    assert "nvidia-nccl-cu12" in installed
    cpu_runs = " ".join(r for s in parse("Dockerfile")[1] for r in s.all("RUN"))
    assert "xgboost==" not in cpu_runs


def test_dockerignore_keeps_the_inputs() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "deny by default"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set()
    for dockerfile in DOCKERFILES:
        for s in parse(dockerfile)[1]:
            for c in s.all("COPY"):
                if c.startswith("--from"):
                    continue
                copied |= {p.rstrip("/") for p in shlex.split(c)[:-1]}
    assert copied <= allowed, copied - allowed
    for junk in ("**/__pycache__", "**/*.pyc"):
        assert junk in lines
