"""Run the serving stack: TF Serving + Prometheus + Grafana in docker compose when a Docker engine
answers, else the embedded server (+ a local Prometheus when installed) as background processes.
"""
