"""The class server: JupyterHub with one account per student, PostgreSQL, MLflow, the exchange.

`server` creates the accounts and starts and stops the services; `limits` caps each student's
processes, memory and CPU share; `postgres` runs the shared database; `exchange` keeps each hand-in
private; `hub_client` talks to the Hub's REST API; `on_submit` grades hand-ins as they arrive.

May import: `mlops_course.grading` and everything below it; never `mlops_course.book`, the proofs
or the command line.
"""
