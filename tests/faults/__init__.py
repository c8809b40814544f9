"""Fault tests in network namespaces (issue 18): partitions, loss, pauses, slow links.

``netns`` builds the namespaces and the nftables faults, ``relay`` is a delaying TCP
relay (a slow link without netem), ``observer`` runs in the switch namespace and reads
views and counts forwarded requests, ``cluster`` starts nodes (ours or ringpop-node)
in the namespaces. ``bench/faults.py`` reuses all of it.
"""
