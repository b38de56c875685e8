"""wmh's Hydra config tree, also importable as `pkg://wmh.conf` (DVC's Hydra mode uses
`hydra.config_module: wmh.conf`); importing it registers the structured schema."""

from wmh.config.compose import register_schema

register_schema()
