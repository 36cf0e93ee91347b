"""The facts a step writes and a check reads: the names, paths and modes on the hosts, the
security-group rules the lab wants, and the handles to its servers' APIs.

Both sides import them from here, so data flows spec → steps → planes → state → checks →
report and no check imports a step (tests/controlplane/test_layering.py holds that). How a
host is reached at all is `vpclab.remote`'s.
"""
