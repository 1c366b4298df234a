"""The benchmark runner: Portcullis beside nginx and HAProxy (python3 -m portcullis_bench).

  settings.py   the knobs (environment variables and flags)
  procs.py      processes: start with taskset placement, stop (also on Ctrl-C), ports, configs
  measure.py    wrk runs, CPU ticks from /proc, the machine-busy check and re-run rule
  report.py     medians, ratios, the text table, the results JSON, the README table
  readme.py     the "Latest `make bench`" section of benchmarks/README.md
  plan.py       what a scenario asks for (servers, targets, load, checks)
  runner.py     carries a plan out in one placement
  scenarios/    one module per scenario
"""
