"""``dagster-k8s/config`` run tags: where a run's pod lands and what it asks for.

The K8sRunLauncher builds one Kubernetes Job per run. Its defaults (helm/dagster-values.yaml,
``runLauncher.config.k8sRunLauncher``) fit an ingest run on the CPU nodes; a job's
``dagster-k8s/config`` tag is deep-merged on top of them (dicts merged, lists appended).

The GPU node-pool contract (docs/deploy.md, k8s/):

- GPU nodes carry the label ``tickflow.io/pool=gpu`` and the taint
  ``nvidia.com/gpu=present:NoSchedule``; the NVIDIA device plugin advertises
  ``nvidia.com/gpu`` on them.
- A training run selects the label, tolerates the taint, requests ``nvidia.com/gpu`` and
  runs at the ``tickflow-training`` PriorityClass. Nothing else tolerates the taint, so
  ingest and every other run stay on the CPU nodes.
- Training runs may use the GPU build of the image (Dockerfile.gpu): the code server's
  ``TICKFLOW_GPU_IMAGE`` (set by the tickflow chart's ConfigMap) names it, and the tag
  overrides the run container's image with it. Unset, the run keeps the code location's
  image.

Usage in the Dagster layer (``assets/ml.py``, the model training job)::

    train_job = define_asset_job("train_job", selection=["price_model"], partitions_def=trading_days,
                                 tags=gpu_training_run_tags())
"""

from __future__ import annotations

import json
from typing import Any

from tickflow.config import load_settings

K8S_CONFIG_TAG = "dagster-k8s/config"
"""The run tag dagster_k8s reads (dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY)."""

POOL_LABEL = "tickflow.io/pool"
GPU_POOL = "gpu"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
TRAINING_PRIORITY_CLASS = "tickflow-training"
GPU_IMAGE_ENV = "TICKFLOW_GPU_IMAGE"
KIND_TAG = "tickflow/kind"
"""Run tag naming the kind of work; the daemon's run queue limits concurrent training runs by it
(helm/dagster-values.yaml, tagConcurrencyLimits)."""
TRAINING_KIND = "training"

GPU_NODE_SELECTOR: dict[str, str] = {POOL_LABEL: GPU_POOL}
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_TAINT_KEY,
    "operator": "Equal",
    "value": GPU_TAINT_VALUE,
    "effect": GPU_TAINT_EFFECT,
}

# Sizes: one GPU node of the example pools (g5.2xlarge: 8 vCPU, 32 GiB, 1 A10G) leaves room
# for the device plugin and the node's daemons.
TRAINING_CPU_REQUEST = "6"
TRAINING_CPU_LIMIT = "8"
TRAINING_MEMORY_REQUEST = "24Gi"
TRAINING_MEMORY_LIMIT = "28Gi"
INGEST_CPU_REQUEST = "1"
INGEST_CPU_LIMIT = "2"
INGEST_MEMORY_REQUEST = "2Gi"
INGEST_MEMORY_LIMIT = "4Gi"


def gpu_training_k8s_config(
    gpus: int = 1,
    cpu: str = TRAINING_CPU_REQUEST,
    cpu_limit: str = TRAINING_CPU_LIMIT,
    memory: str = TRAINING_MEMORY_REQUEST,
    memory_limit: str = TRAINING_MEMORY_LIMIT,
    image: str | None = None,
) -> dict[str, Any]:
    """The ``dagster-k8s/config`` value of a training run: ``gpus`` GPUs (an extended
    resource is requested by its limit; Kubernetes sets the request equal), CPU and memory
    requests and limits, the GPU pool's node selector and toleration, and the training
    PriorityClass. ``image`` (default: $TICKFLOW_GPU_IMAGE, if set) replaces the run
    container's image.

    The tag is deep-merged onto the run launcher's defaults, so every default resource
    (the CPU ingest sizes) is overridden here: a key left out would keep the ingest value,
    e.g. a 2-core CPU limit on a training run."""
    if gpus < 1:
        raise ValueError(f"a GPU training run needs at least one GPU, got {gpus}")
    container: dict[str, Any] = {
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu_limit, "memory": memory_limit, GPU_RESOURCE: str(gpus)},
        }
    }
    image = image if image is not None else load_settings().gpu_image
    if image:
        container["image"] = image
    return {
        "container_config": container,
        "pod_spec_config": {
            "node_selector": dict(GPU_NODE_SELECTOR),
            "tolerations": [dict(GPU_TOLERATION)],
            "priority_class_name": TRAINING_PRIORITY_CLASS,
        },
        "pod_template_spec_metadata": {"labels": {POOL_LABEL: GPU_POOL}},
    }


def cpu_ingest_k8s_config(
    cpu: str = INGEST_CPU_REQUEST,
    cpu_limit: str = INGEST_CPU_LIMIT,
    memory: str = INGEST_MEMORY_REQUEST,
    memory_limit: str = INGEST_MEMORY_LIMIT,
) -> dict[str, Any]:
    """The ``dagster-k8s/config`` value of a CPU run (ingest, bars, signals): requests and
    limits only; no GPU, no node selector, no toleration, so the pod can never land on the
    tainted GPU pool. The run launcher's defaults in helm/dagster-values.yaml are the same
    sizes, so an untagged run gets this too."""
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": cpu_limit, "memory": memory_limit},
            }
        }
    }


def as_run_tags(k8s_config: dict[str, Any]) -> dict[str, str]:
    """Run tags carrying ``k8s_config`` as dagster_k8s expects it (a JSON string)."""
    return {K8S_CONFIG_TAG: json.dumps(k8s_config, sort_keys=True)}


def gpu_training_run_tags(**kwargs: Any) -> dict[str, str]:
    """Run tags for a GPU training job (its k8s config and ``tickflow/kind: training``);
    keyword arguments as gpu_training_k8s_config."""
    return {**as_run_tags(gpu_training_k8s_config(**kwargs)), KIND_TAG: TRAINING_KIND}


def cpu_ingest_run_tags(**kwargs: Any) -> dict[str, str]:
    """Run tags for an explicitly CPU-sized job; keyword arguments as cpu_ingest_k8s_config."""
    return as_run_tags(cpu_ingest_k8s_config(**kwargs))
