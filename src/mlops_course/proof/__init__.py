"""The course's proofs of itself: the shared prefix, the mutation report and the dependency canary.

`shared_prefix` runs a lab once and tries each wrong answer in a fork of it; `mutants` makes small
slips in every answer and reports which the tests catch; `canary` proves the course on the newest
release of every dependency.

May import: anything in the package but the command line.
"""
