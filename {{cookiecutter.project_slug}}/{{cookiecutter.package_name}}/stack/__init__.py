"""Run the serving stack: TF Serving + Prometheus + Grafana in docker compose when a Docker engine
answers, else the embedded server (package `embedded_tfserving`) and a local Prometheus (when
installed) as background processes recorded in run/embedded/.
"""
