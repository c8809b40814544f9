"""What a service developer meets first (issue 12): keys, failover, bootstrap, metrics."""
