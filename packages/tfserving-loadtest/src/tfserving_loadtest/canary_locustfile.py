"""The canary's locustfile: GrpcCanaryUser alone, since its requests only make sense while the
canary has the labels `stable` and `canary` in place (a run that names no user class runs every
class of its file). A project's own imports its locustfile first, for its defaults:

    import locustfile  # noqa: F401 (the project's defaults: model, requests, access)
    from tfserving_loadtest.users import GrpcCanaryUser
"""

from tfserving_loadtest.users import GrpcCanaryUser

__all__ = ["GrpcCanaryUser"]
