"""`newsbeam run` as a Python file, for schedulers that launch a pipeline as
`PYTHON FILE --option=value ...` (Airflow's BeamRunPythonPipelineOperator).

Run it with the interpreter of an environment where newsbeam is installed; it takes
exactly the options of `newsbeam run` (and every Beam option) and exits with its code:
0 done, 75 another run holds the output's lock (see README, Scheduling).
"""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
