"""Checks for the custom resources kubernetes-validate has no schema for: Strimzi's Kafka,
KafkaNodePool and KafkaTopic (kafka.strimzi.io/v1beta2), Karpenter's NodePool (karpenter.sh/v1)
and EC2NodeClass (karpenter.k8s.aws/v1), and eksctl's ClusterConfig file.

Each schema is a hand-written subset of the operator's CRD: the apiVersion and kind, the
fields the CRD requires, the enums and types of what we set, and (where the field list is
short and stable) no unknown fields, so that a typo fails here instead of in the cluster.
"""

from __future__ import annotations

from typing import Any

import jsonschema

STR = {"type": "string", "minLength": 1}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
OBJ = {"type": "object"}
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"}
DURATION = {"type": "string", "pattern": r"^(([0-9]+(s|m|h))+|Never)$"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
RESOURCES = {
    "type": "object",
    "properties": {
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
    },
    "additionalProperties": False,
}


def _metadata(namespaced: bool, cluster_label: bool = False) -> dict[str, Any]:
    required = ["name"] + (["namespace"] if namespaced else [])
    props: dict[str, Any] = {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                             "namespace": STR, "labels": LABELS, "annotations": LABELS}
    meta: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if cluster_label:
        meta["required"] = [*required, "labels"]
        props["labels"] = {**LABELS, "required": ["strimzi.io/cluster"]}
    return meta


def _resource(api_version: str, kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind},
                       "metadata": metadata, "spec": spec},
        "additionalProperties": False,
    }


_LISTENER = {
    "type": "object",
    "required": ["name", "port", "type", "tls"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
        "port": {"type": "integer", "minimum": 9092},
        "type": {"enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]},
        "tls": BOOL,
        "authentication": OBJ,
        "configuration": OBJ,
        "networkPolicyPeers": {"type": "array", "items": OBJ},
    },
    "additionalProperties": False,
}

_VOLUME = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "type": {"enum": ["ephemeral", "persistent-claim"]},
        "size": STR,
        "sizeLimit": STR,
        "class": STR,
        "deleteClaim": BOOL,
        "kraftMetadata": {"enum": ["shared"]},
        "selector": OBJ,
        "overrides": {"type": "array"},
    },
    "additionalProperties": False,
    "if": {"properties": {"type": {"const": "persistent-claim"}}},
    "then": {"required": ["size"]},
}

_STORAGE = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": ["ephemeral", "persistent-claim", "jbod"]},
                   "volumes": {"type": "array", "minItems": 1, "items": _VOLUME},
                   "size": STR, "class": STR, "deleteClaim": BOOL, "sizeLimit": STR},
    "if": {"properties": {"type": {"const": "jbod"}}},
    "then": {"required": ["volumes"]},
}

KAFKA = _resource(
    "kafka.strimzi.io/v1beta2", "Kafka", _metadata(True),
    {
        "type": "object",
        "required": ["kafka"],
        "properties": {
            "kafka": {
                "type": "object",
                "required": ["listeners"],
                "properties": {
                    "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
                    "metadataVersion": STR,
                    "listeners": {"type": "array", "minItems": 1, "items": _LISTENER},
                    "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}},
                    "authorization": OBJ, "rack": OBJ, "resources": RESOURCES, "jvmOptions": OBJ,
                    "metricsConfig": OBJ, "logging": OBJ, "template": OBJ, "livenessProbe": OBJ,
                    "readinessProbe": OBJ, "image": STR, "quotas": OBJ, "tieredStorage": OBJ,
                },
                "additionalProperties": False,
            },
            "entityOperator": {
                "type": "object",
                "properties": {
                    "topicOperator": {"type": "object", "properties": {"resources": RESOURCES}},
                    "userOperator": {"type": "object", "properties": {"resources": RESOURCES}},
                    "template": OBJ,
                },
                "additionalProperties": False,
            },
            "cruiseControl": OBJ, "kafkaExporter": OBJ, "clusterCa": OBJ, "clientsCa": OBJ,
            "maintenanceTimeWindows": {"type": "array"},
        },
        "additionalProperties": False,
    },
)

KAFKA_NODE_POOL = _resource(
    "kafka.strimzi.io/v1beta2", "KafkaNodePool", _metadata(True, cluster_label=True),
    {
        "type": "object",
        "required": ["replicas", "storage", "roles"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "roles": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"enum": ["controller", "broker"]}},
            "storage": _STORAGE,
            "resources": RESOURCES,
            "jvmOptions": OBJ,
            "template": OBJ,
        },
        "additionalProperties": False,
    },
)

KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1beta2", "KafkaTopic", _metadata(True, cluster_label=True),
    {
        "type": "object",
        "required": ["partitions", "replicas"],
        "properties": {
            "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}},
        },
        "additionalProperties": False,
    },
)

_TAINT = {
    "type": "object",
    "required": ["key", "effect"],
    "properties": {"key": STR, "value": {"type": "string"},
                   "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]}},
    "additionalProperties": False,
}

_REQUIREMENT = {
    "type": "object",
    "required": ["key", "operator"],
    "properties": {"key": STR, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
                   "values": {"type": "array", "items": {"type": "string"}}, "minValues": INT},
    "additionalProperties": False,
}

KARPENTER_NODE_POOL = _resource(
    "karpenter.sh/v1", "NodePool", _metadata(False),
    {
        "type": "object",
        "required": ["template"],
        "properties": {
            "template": {
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "metadata": {"type": "object", "properties": {"labels": LABELS, "annotations": LABELS},
                                 "additionalProperties": False},
                    "spec": {
                        "type": "object",
                        "required": ["nodeClassRef", "requirements"],
                        "properties": {
                            "nodeClassRef": {"type": "object", "required": ["group", "kind", "name"],
                                             "properties": {"group": STR, "kind": STR, "name": STR},
                                             "additionalProperties": False},
                            "taints": {"type": "array", "items": _TAINT},
                            "startupTaints": {"type": "array", "items": _TAINT},
                            "requirements": {"type": "array", "items": _REQUIREMENT},
                            "expireAfter": DURATION,
                            "terminationGracePeriod": DURATION,
                        },
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            },
            "limits": {"type": "object", "additionalProperties": QUANTITY},
            "disruption": {
                "type": "object",
                "properties": {"consolidationPolicy": {"enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
                               "consolidateAfter": DURATION, "budgets": {"type": "array"}},
                "additionalProperties": False,
            },
            "weight": {"type": "integer", "minimum": 1, "maximum": 100},
        },
        "additionalProperties": False,
    },
)

_SELECTOR_TERMS = {"type": "array", "minItems": 1, "items": {"type": "object", "minProperties": 1}}

EC2_NODE_CLASS = _resource(
    "karpenter.k8s.aws/v1", "EC2NodeClass", _metadata(False),
    {
        "type": "object",
        "required": ["amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms"],
        "oneOf": [{"required": ["role"]}, {"required": ["instanceProfile"]}],
        "properties": {
            "amiSelectorTerms": _SELECTOR_TERMS,
            "subnetSelectorTerms": _SELECTOR_TERMS,
            "securityGroupSelectorTerms": _SELECTOR_TERMS,
            "role": STR, "instanceProfile": STR, "amiFamily": STR,
            "blockDeviceMappings": {"type": "array"}, "metadataOptions": OBJ, "tags": LABELS,
            "userData": {"type": "string"}, "kubelet": OBJ, "detailedMonitoring": BOOL,
        },
        "additionalProperties": False,
    },
)

EKSCTL_CLUSTER_CONFIG = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "managedNodeGroups"],
    "properties": {
        "apiVersion": {"const": "eksctl.io/v1alpha5"},
        "kind": {"const": "ClusterConfig"},
        "metadata": {"type": "object", "required": ["name", "region"]},
        "managedNodeGroups": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "instanceType", "labels", "taints"],
                "properties": {
                    "name": STR, "instanceType": STR, "amiFamily": STR,
                    "minSize": INT, "maxSize": INT, "desiredCapacity": INT,
                    "volumeSize": INT, "volumeType": STR, "volumeEncrypted": BOOL, "privateNetworking": BOOL,
                    "labels": LABELS, "taints": {"type": "array", "items": _TAINT}, "tags": LABELS,
                },
                "additionalProperties": False,
            },
        },
    },
}

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("kafka.strimzi.io/v1beta2", "Kafka"): KAFKA,
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): KAFKA_NODE_POOL,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC,
    ("karpenter.sh/v1", "NodePool"): KARPENTER_NODE_POOL,
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): EC2_NODE_CLASS,
    ("eksctl.io/v1alpha5", "ClusterConfig"): EKSCTL_CLUSTER_CONFIG,
}


def is_custom(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in SCHEMAS


def validate_custom(obj: dict[str, Any]) -> None:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in SCHEMAS:
        raise AssertionError(f"no schema for custom resource {key}")
    errors = sorted(jsonschema.Draft7Validator(SCHEMAS[key]).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        name = obj.get("metadata", {}).get("name")
        raise AssertionError(f"{key[1]}/{name}: " + "; ".join(
            f"{'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}" for e in errors))
