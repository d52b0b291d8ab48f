"""tickflow: the engine of the market-microstructure platform. Never imports dagster."""

__version__ = "0.1.0"
