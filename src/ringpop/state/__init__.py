"""State that survives ring changes: versions, stores, replication over the ring.

See docs/state.md. Layers: :mod:`.hlc` (versions, last-writer-wins; pure),
:mod:`.store` (the store protocol and records), :mod:`.memory` and :mod:`.sqlite`
(ready stores), :mod:`.replicator` (N/R/W over go-style forwarding, read repair).
"""
