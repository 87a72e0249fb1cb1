# Debian's Prometheus, laid out like prom/prometheus: config in /etc/prometheus, data in /prometheus.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
