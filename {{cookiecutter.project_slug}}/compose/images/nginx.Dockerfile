# Debian's nginx in the foreground, as the nginx image runs it; compose mounts nginx.conf.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
