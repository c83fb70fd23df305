"""Progressive delivery: a service's new revision rolled out by a strategy.

``rolling`` (the services package's own rollout), ``canary`` (steps of HAProxy server weights
changed at run time, with background analysis) and ``blueGreen`` (the new revision beside the
active one, an atomic switch, the old one kept for ``undo``). Analysis reads metric providers
(:mod:`.providers`: HAProxy's own statistics per revision; Prometheus by PromQL). Rollouts are
recorded in the state database (:mod:`.records`) so that another CLI process can see them and
promote, pause, resume, abort or undo them (:mod:`.commands`).
"""
