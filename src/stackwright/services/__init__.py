"""Services and load balancers: replicas in podman behind HAProxy, rolled without downtime.

Kinds: ``Service`` (:mod:`.service`) and ``LoadBalancer`` (:mod:`.loadbalancer`). They meet
through the route table (:mod:`.routes`); :func:`.rollout.reconcile` is the pure decision a
controller can run continuously.
"""
