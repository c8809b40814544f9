"""A periodic job run by the cluster's leader, moved and resumed when the leader dies."""
