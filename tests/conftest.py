"""Settings shared by the whole suite."""

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed: on a loaded 2-core CI machine a single
# example can take longer than hypothesis's default 200 ms deadline, which would fail
# a correct test. Speed is measured by bench/, not asserted here.
settings.register_profile("ringpop", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ringpop")
