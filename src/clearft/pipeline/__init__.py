"""The whole CLEAR loop (`clearft run`): score, filter, fine-tune, correct, fine-tune again,
evaluate; resumable stage by stage in a run directory."""

from clearft.pipeline.config import RunConfig
from clearft.pipeline.plan import format_plan, plan_run
from clearft.pipeline.run import run_pipeline, summary_table
from clearft.pipeline.state import RunState
from clearft.pipeline.toolkit import Toolkit

__all__ = ["RunConfig", "RunState", "Toolkit", "format_plan", "plan_run", "run_pipeline", "summary_table"]
