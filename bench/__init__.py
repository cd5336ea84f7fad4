"""The benchmark: disconnect, offboarding and API throughput, each beside its floor or
ceiling measured in the same run. Run it with ``make bench`` (see the README). Beside it, the
soak run (``make soak``): mixed traffic for minutes, then invariant checks."""
