"""Local images for the compose stack, built without any registry (`make images`), and which images
the stack needs that are neither here nor pullable (checked by `serve` before it starts anything).

The build, in the project's build/images/:
1. a Debian bookworm root file system made by mmdebstrap from the host's package sources, with
   Python, Prometheus, Alertmanager, nginx, HAProxy and wget, imported as localhost/<project>/base:bookworm
   (kept between runs, labelled with its package list: made anew when that list changes, or with
   `--rebuild-base`);
2. the pinned wheels of requirements.txt downloaded on the host (a container cannot reach the
   package index) and the project's own wheel;
3. compose/images/build.yml built by `docker compose build` (with build/images/ as the model
   server's build context, for BuildKit to mount the wheels from): the model server (the embedded
   server shaped like the tensorflow/serving image; Locust and the alert receiver run from it too),
   Prometheus, Alertmanager, nginx, the balancer (HAProxy).
Grafana, NVIDIA's DCGM exporter and tensorflow/serving itself have no packaged build here.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import compose_file
from .errors import StackError
from .mode import docker_client
from .project import Project

# The base's packages: Python for the server and Locust (TensorFlow needs libstdc++), Debian's
# Prometheus, Alertmanager, nginx and HAProxy, wget for the compose healthchecks, CA certificates for TLS.
BASE_PACKAGES = ("python3", "python3-venv", "libstdc++6", "ca-certificates", "prometheus", "prometheus-alertmanager",
                 "nginx", "haproxy", "wget")
# The base image's label that lists BASE_PACKAGES: a base made with another list is made anew.
PACKAGES_LABEL = "base-packages"
# Left out of the base: documentation, and the 212 MB of time-zone data Prometheus' web UI does not load.
BASE_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*",
                 "/usr/share/javascript/moment-timezone/data/*")
# The model server's label: a digest of the requirements.txt it installed. One made from other pins
# (after `make upgrade-packages`, or from an older project) counts as missing, so it is made anew.
PINS_LABEL = "requirements-digest"
# .env setting -> the role of the local image that replaces the upstream one.
LOCAL_ROLES = {"TFSERVING_IMAGE": "model-server", "LOCUST_IMAGE": "model-server",
               "PROMETHEUS_IMAGE": "prometheus", "ALERTMANAGER_IMAGE": "alertmanager", "NGINX_IMAGE": "nginx",
               "BALANCER_IMAGE": "balancer"}
Say = Callable[[str], None]


def local_image(project: Project, role: str) -> str:
    return f"localhost/{project.setting('COMPOSE_PROJECT_NAME')}/{role}:local"


def local_settings(project: Project) -> dict[str, str]:
    """The .env lines that point the stack at the local images."""
    return {setting: local_image(project, role) for setting, role in LOCAL_ROLES.items()}


def upstream_settings(project: Project) -> dict[str, str]:
    """The same settings with the upstream images (the compose file's defaults)."""
    defaults = compose_file.defaults(project.compose_file.read_text())
    return {setting: defaults[setting] for setting in LOCAL_ROLES}


def write_settings(project: Project, settings: dict[str, str]) -> None:
    """Rewrite these KEY=VALUE lines of .env in place (comments and order kept, missing keys added)."""
    env_file = project.root / ".env"
    lines, seen = [], set()
    for line in env_file.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in settings and not line.lstrip().startswith("#"):
            seen.add(key)
            line = f"{key}={settings[key]}"
        lines.append(line)
    lines += [f"{key}={value}" for key, value in settings.items() if key not in seen]
    env_file.write_text("\n".join(lines) + "\n")


# --- which images are missing -------------------------------------------------------------------

@dataclass(frozen=True)
class Unavailable:
    service: str
    image: str
    why: str


def pins_digest(project: Project) -> str | None:
    """What the model server's image must carry in PINS_LABEL (None: no requirements.txt to compare)."""
    pins = project.root / "requirements.txt"
    return hashlib.sha256(pins.read_bytes()).hexdigest()[:16] if pins.is_file() else None


def unavailable(images: dict[str, str], project: Project | None = None) -> list[Unavailable]:
    """The images (service -> image) that are not here and that the registry does not offer,
    asked without pulling anything; compose pulls the others when it starts. With `project`, its
    local model-server image counts as missing when built from other pins than its requirements.txt."""
    import docker

    missing = []
    stale_check = (local_image(project, "model-server"), pins_digest(project)) if project is not None else None
    with docker_client() as client:
        for service, image in images.items():
            if is_here(client, image):
                if stale_check and image == stale_check[0] and stale_check[1] is not None:
                    built_from = client.images.get(image).labels.get(PINS_LABEL)
                    if built_from != stale_check[1]:
                        missing.append(Unavailable(service, image, "built from other pins than this project's "
                                                   "requirements.txt: `make images` makes it anew"))
                continue
            try:
                client.images.get_registry_data(image)
            except docker.errors.APIError as error:
                why = str(error.explanation or error).splitlines()[0]
                missing.append(Unavailable(service, image, why))
    return missing


def is_here(client: Any, image: str) -> bool:
    """Whether the engine has `image` (name or id) locally."""
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def images_of(compose: Mapping[str, Any], profiles: Iterable[str]) -> dict[str, str]:
    """Service -> image of what `up` starts with these profiles (`compose`: compose_file.load)."""
    services = compose_file.active_services(compose, profiles)
    return {name: service["image"] for name, service in services.items()}


# --- the build ----------------------------------------------------------------------------------

def _run(command: list[str], what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise StackError(f"{what} failed (exit status {result.returncode}):\n{tail}")


def build_base(project: Project, work: Path, rebuild: bool, say: Say) -> str:
    """localhost/<project>/base:bookworm from an mmdebstrap root file system."""
    tag = local_image(project, "base").replace(":local", ":bookworm")
    packages = ",".join(BASE_PACKAGES)
    with docker_client() as client:
        present = is_here(client, tag)
        made_with = client.images.get(tag).labels.get(PACKAGES_LABEL) if present else None
    if present and made_with == packages and not rebuild:
        say(f"base image {tag} is there (--rebuild-base makes it anew)")
        return tag
    if present and not rebuild:
        say(f"base image {tag} was made with other packages ({made_with or 'not recorded'}): making it anew")
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise StackError("`make images` needs mmdebstrap to make the Debian base: `apt-get install mmdebstrap` "
                         "(Debian, Ubuntu), or run it on a Linux machine that has it; nothing was built")
    started = time.monotonic()
    rootfs = work / "base.tar"
    command = [mmdebstrap, "--variant=essential", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
               *(f"--dpkgopt=path-exclude={path}" for path in BASE_EXCLUDES),
               "--dpkgopt=path-include=/usr/share/doc/*/copyright",
               f"--include={packages}", "bookworm", str(rootfs)]
    say(f"making the Debian base with mmdebstrap ({', '.join(BASE_PACKAGES)})")
    _run(command, "mmdebstrap")
    _run(["docker", "import", "--change", "ENV LANG=C.UTF-8", "--change",
          "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "--change", f"LABEL {PACKAGES_LABEL}={packages}", str(rootfs), tag], "docker import")
    rootfs.unlink()
    say(f"base image {tag} in {time.monotonic() - started:.0f} s")
    return tag


def download_wheels(project: Project, work: Path, say: Say) -> tuple[Path, Path]:
    """(wheels folder with requirements.txt, folder with the project's wheel), made on the host."""
    wheels, own = work / "wheels", work / "project"
    wheels.mkdir(parents=True, exist_ok=True)
    shutil.copy(project.root / "requirements.txt", wheels / "requirements.txt")
    started = time.monotonic()
    machine = {"aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine(), "x86_64")
    # Wheels for the base's Python (Debian bookworm: CPython 3.11, glibc 2.36), whatever Python runs this.
    platforms = [flag for n in range(17, 37) for flag in ("--platform", f"manylinux_2_{n}_{machine}")]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--python-version", "3.11",
          "--implementation", "cp", *platforms, "--platform", f"manylinux2014_{machine}",
          # the project's wheels/ (the embedded server), which the copied file's relative path misses
          "--find-links", str(project.root / "wheels"), "-r", str(wheels / "requirements.txt"), "-d", str(wheels)],
         "pip download")
    shutil.rmtree(own, ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(own),
          str(project.root)], "building the project's wheel")
    count = len(list(wheels.glob("*.whl")))
    say(f"{count} wheels in {wheels} and the project's wheel, {time.monotonic() - started:.0f} s")
    return wheels, own


def build(project: Project, rebuild_base: bool = False, say: Say = print) -> dict[str, str]:
    """Build every local image; returns the .env settings that point the stack at them."""
    from .mode import docker_engine_error, require_compose_plugin

    if (error := docker_engine_error()) is not None:
        raise StackError(f"`make images` needs a Docker engine, and none answers ({error}); nothing was built")
    require_compose_plugin()
    work = project.root / "build" / "images"
    work.mkdir(parents=True, exist_ok=True)
    build_base(project, work, rebuild_base, say)
    download_wheels(project, work, say)
    for recipe in (project.compose_dir / "images").iterdir():  # the model server's build context is `work`
        shutil.copy2(recipe, work / recipe.name)
    started = time.monotonic()
    say("building the images (docker compose build)")
    env = {**project.env, "IMAGES_CONTEXT": str(work), "REQUIREMENTS_DIGEST": pins_digest(project) or ""}
    _run(["docker", "compose", "-f", str(project.compose_dir / "images" / "build.yml"), "build"],
         "docker compose build", cwd=project.root, env=env)
    say(f"images built in {time.monotonic() - started:.0f} s")
    return local_settings(project)


def size(image: str) -> str:
    """The image's size, e.g. "2.41 GB"."""
    with docker_client() as client:
        return f"{client.images.get(image).attrs['Size'] / 1e9:.2f} GB"
