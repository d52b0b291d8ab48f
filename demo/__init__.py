"""The demo (`tickflow demo`, `make demo`): it drives Dagster, so it lives on the Dagster side
of the repository beside assets/, sensors/ and resources/, and runs from the repository root
(`python -m demo`), where `definitions` and those packages import without any `sys.path` edit.
The engine's console command `tickflow demo` starts it as that subprocess, so the engine
itself never imports Dagster."""
