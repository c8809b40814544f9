"""A sharded in-memory key-value store: PUT/GET/DELETE ``/kv/{key}`` on any node."""
