# Debian's Alertmanager, laid out like prom/alertmanager: config in /etc/alertmanager, data in /alertmanager.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN mkdir -p /alertmanager && chown prometheus:prometheus /alertmanager
USER prometheus
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
