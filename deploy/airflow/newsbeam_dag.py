"""Periodic newsbeam batch runs from Airflow, with the Apache Beam provider's
BeamRunPythonPipelineOperator: `newsbeam_batch` on DirectRunner (Beam's local batch
engine on the Airflow worker), `newsbeam_batch_flink` on a Flink cluster through Beam's
Flink job server. See README, Scheduling.

Configured by the Airflow worker's environment (read when the DAG file is parsed):

  NEWSBEAM_PYTHON           interpreter of an environment with newsbeam installed
                            (default: the checkout's .venv/bin/python)
  NEWSBEAM_INPUTS           input paths or globs, separated by ":" (optional)
  NEWSBEAM_FEEDS_FILES      feed lists (text or OPML), path or URL, separated by " " (optional)
  NEWSBEAM_OUTPUT           the output folder (required)
  NEWSBEAM_SCHEDULE         cron expression (default "@hourly")
  NEWSBEAM_WAIT_FOR_LOCK    seconds a run waits for a run still writing (default 600)
  NEWSBEAM_RETRIES          retries of a failed run, 5 minutes apart (default 2)
  NEWSBEAM_FLINK_MASTER     Flink REST address HOST:PORT, for newsbeam_batch_flink
  NEWSBEAM_FLINK_JOB_SERVER_JAR  the job server jar (scripts/fetch_flink_jobserver.sh prints it)
  NEWSBEAM_FLINK_ENVIRONMENT     LOOPBACK (default: Python workers in the task's process),
                            EXTERNAL (with NEWSBEAM_FLINK_ENVIRONMENT_CONFIG=HOST:PORT of a
                            worker pool beside the task managers) or DOCKER

Safe by construction: a run holds the output's lock from start to commit, waits up to
NEWSBEAM_WAIT_FOR_LOCK seconds for another writer and otherwise exits 75 (the task
fails and is retried); a run killed half-way is recovered by the next one.
"""

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

CHECKOUT = Path(__file__).resolve().parents[2]
LAUNCHER = str(Path(__file__).resolve().with_name("newsbeam_run.py"))
PYTHON = os.environ.get("NEWSBEAM_PYTHON", str(CHECKOUT / ".venv" / "bin" / "python"))
SCHEDULE = os.environ.get("NEWSBEAM_SCHEDULE", "@hourly")


def newsbeam_options() -> dict:
    """The options of `newsbeam run`, as the operator passes them (`--name=value`, lists repeated)."""
    options = {
        "output": os.environ.get("NEWSBEAM_OUTPUT"),
        "wait-for-lock": int(os.environ.get("NEWSBEAM_WAIT_FOR_LOCK", "600")),
    }
    inputs = [p for p in os.environ.get("NEWSBEAM_INPUTS", "").split(":") if p]
    feeds_files = os.environ.get("NEWSBEAM_FEEDS_FILES", "").split()
    if inputs:
        options["input"] = inputs
    if feeds_files:
        options["feeds-file"] = feeds_files
    return options


DEFAULTS = {
    "retries": int(os.environ.get("NEWSBEAM_RETRIES", "2")),
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=2),
}


def newsbeam_dag(dag_id: str, runner: str, extra_options: dict, doc: str) -> DAG:
    with DAG(
        dag_id,
        schedule=SCHEDULE,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULTS,
        doc_md=doc,
        tags=["newsbeam"],
    ) as dag:
        BeamRunPythonPipelineOperator(
            task_id="newsbeam_run",
            runner=runner,
            py_file=LAUNCHER,
            py_interpreter=PYTHON,
            pipeline_options={**newsbeam_options(), **extra_options},
        )
    return dag


batch = newsbeam_dag(
    "newsbeam_batch",
    "DirectRunner",
    {},
    "newsbeam batch run on DirectRunner (the local batch engine) on the Airflow worker.",
)

flink_environment = os.environ.get("NEWSBEAM_FLINK_ENVIRONMENT", "LOOPBACK")
batch_flink = newsbeam_dag(
    "newsbeam_batch_flink",
    "FlinkRunner",
    {
        "flink_master": os.environ.get("NEWSBEAM_FLINK_MASTER"),
        "flink_job_server_jar": os.environ.get("NEWSBEAM_FLINK_JOB_SERVER_JAR"),
        "environment_type": flink_environment,
        "environment_config": os.environ.get("NEWSBEAM_FLINK_ENVIRONMENT_CONFIG"),
    },
    "newsbeam batch run on a Flink cluster, submitted through Beam's Flink job server.",
)
