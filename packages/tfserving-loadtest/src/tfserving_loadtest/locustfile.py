"""The toolkit's locustfile, for any model TF Serving serves; pick a user with its class name:

    locust -f $(python -c 'import tfserving_loadtest.locustfile as f; print(f.__file__)') --headless \
        -u 16 -t 30s --host http://127.0.0.1:8501 --model-name half_plus_two --requests requests.json RestUser

RestUser and GrpcUser send back to back (closed loop); RestRateUser and GrpcRateUser at a fixed
arrival rate (--arrival-rate; -u is then how many requests may be in flight). A project's own
locustfile imports these users the same way and sets its defaults with hooks.defaults(...).
"""

from tfserving_loadtest.users import GrpcRateUser, GrpcUser, LoadShape, RestRateUser, RestUser

__all__ = ["GrpcRateUser", "GrpcUser", "LoadShape", "RestRateUser", "RestUser"]
