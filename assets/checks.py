"""Turning tickflow's quality outcomes into Dagster asset checks.

A run may cover several partitions (a backfill range as one run), and a check reports once
per run: it passes when it passed on every partition, and its metadata names the
partitions that failed with the first failure's details.

Every check is ERROR severity and blocking: the engine already refused to write a day
whose rows failed (tickflow.derive.entry_points), and a failed check fails the step so that no
downstream asset of the run is built on that day."""


from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from tickflow.quality.expectations import CheckOutcome

BAR_CHECKS = ("high_ge_open_close", "low_le_open_close", "vwap_within_range", "volume_non_negative",
              "one_row_per_session_bar", "volume_reconciles_with_raw")
SIGNAL_CHECKS = ("finite_where_defined", "p_values_in_unit_interval")


def specs(asset: str, names: tuple[str, ...]) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(name, asset=asset, blocking=True) for name in names]


class CheckCollector:
    """Collects per-partition outcomes of one asset's checks; emits one result per check."""

    def __init__(self, asset: str) -> None:
        self.asset = asset
        self.by_check: dict[str, list[tuple[str, CheckOutcome]]] = {}

    def add(self, partition: str, outcomes: list[CheckOutcome]) -> None:
        for o in outcomes:
            self.by_check.setdefault(o.name, []).append((partition, o))

    def results(self) -> list[AssetCheckResult]:
        out = []
        for name, items in self.by_check.items():
            failed = [(p, o) for p, o in items if not o.passed]
            meta = {"partitions": [p for p, _ in items], "failed_partitions": [p for p, _ in failed]}
            meta.update((failed[0] if failed else items[-1])[1].metadata)
            out.append(AssetCheckResult(asset_key=AssetKey(self.asset), check_name=name, passed=not failed,
                                        severity=AssetCheckSeverity.ERROR, description=items[0][1].description,
                                        metadata=meta))
        return out
