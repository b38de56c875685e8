"""The build's DVC stages by name, in order (`wmh pipeline STAGE` makes a command of each
without loading the pipeline)."""

STAGES = ("ingest", "split", "index", "optimize", "evaluate", "package")
PROVIDER_STAGES = ("optimize", "evaluate")  # the stages that call an LLM provider
