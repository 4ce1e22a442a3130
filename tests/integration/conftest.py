"""Makes the AMI fixtures of :mod:`tests.integration.ami_doubles` visible to the integration tests."""

from tests.integration.ami_doubles import running, servers, sims

__all__ = ["running", "servers", "sims"]
