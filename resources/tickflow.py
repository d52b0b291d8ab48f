"""One ConfigurableResource for the tick store and Kafka.

Unset fields fall back to tickflow.config.load_settings(), i.e. the TICKFLOW_* environment
variables and then the local stack's defaults; in Kubernetes the DSN comes from a Secret
through TICKFLOW_PG_DSN."""


from dagster import ConfigurableResource, InitResourceContext

from tickflow.config import Settings, load_settings


class TickflowResource(ConfigurableResource):  # type: ignore[misc]
    pg_dsn: str = ""
    kafka_bootstrap: str = ""
    kafka_profile: str = ""

    def settings(self) -> Settings:
        s = load_settings()
        changes = {k: v for k, v in (("pg_dsn", self.pg_dsn), ("kafka_bootstrap", self.kafka_bootstrap),
                                     ("kafka_profile", self.kafka_profile)) if v}
        return s.with_(**changes) if changes else s

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Every run needs the store: an unreachable one fails the run at once with the one
        # line an operator acts on (tickflow.ops.errors), the psycopg error chained below it.
        # Then its schema is brought up to date, once per run (two catalog lookups when current).
        from tickflow.ops.errors import check_postgres
        from tickflow.store.schema import ensure_current

        dsn = self.settings().dsn
        check_postgres(dsn)
        ensure_current(dsn)
