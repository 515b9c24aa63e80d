"""The class server: JupyterHub with one account per student, PostgreSQL, MLflow, the exchange.

`server` starts, stops and reports on a class (what the command line calls); `accounts` makes
the system accounts and their homes; `state_folder` keeps the class's record, secrets and
folders; `shared_python` is the Python every account runs; `answers` keeps solutions closed to
students; `services` starts and stops the processes; `limits` caps each student's processes,
memory and CPU share; `postgres` runs the shared database; `exchange` keeps each hand-in
private; `hub_client` talks to the Hub's REST API; `on_submit` grades hand-ins as they arrive.

May import: `mlops_course.grading` and everything below it; never `mlops_course.book`, the proofs
or the command line.
"""
