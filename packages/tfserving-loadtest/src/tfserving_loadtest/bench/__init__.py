"""The serving benchmark (`run.py`): in-process, the embedded server over REST and gRPC with batching
off and on, each protocol's floor (`floor_server.py`) and an optional naive server, side by side over
several runs, with the server's CPU per request; the model's load paths (`load_paths.py`); and where
the server's CPU goes under load (`profile.py`, py-spy)."""
