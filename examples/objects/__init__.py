"""The seeds' example: ``GET /objects/{id}`` answered by the owner of ``id``."""
