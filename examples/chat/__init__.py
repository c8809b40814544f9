"""A chat service of room actors (and a per-user rate limiter actor) over HTTP."""
