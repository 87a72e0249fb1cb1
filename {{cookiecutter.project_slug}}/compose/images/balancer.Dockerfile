# Debian's HAProxy (2.6) for the replicas profile; compose mounts haproxy.cfg and names the command.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
EXPOSE 8500 8501 8404 9999
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
