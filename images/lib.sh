# shellcheck shell=bash
# What venvkit's scripts share: the facts of venvkit.conf, the default
# SOURCE_DATE_EPOCH, and the container engine. Sourced, not run.

VENVKIT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVKIT_CONF=$VENVKIT_REPO/venvkit.conf

# conf KEY: the values of every KEY line of venvkit.conf, one line each.
conf() {
    awk -v key="$1" '{ sub(/#.*/, "") } $1 == key { $1 = ""; sub(/^ +/, ""); print }' "$VENVKIT_CONF"
}

venvkit_tools() { conf tools; }

# The workspace's version (Cargo.toml's [workspace.package] version).
venvkit_version() {
    awk -F'"' '/^\[workspace.package\]/ { section = 1 } section && /^version/ { print $2; exit }' \
        "$VENVKIT_REPO/Cargo.toml"
}
venvkit_suites() { conf suite | awk '{ print $1 }' | xargs; }

# python_version SUITE: the Python that SUITE ships.
python_version() {
    local version
    version=$(conf suite | awk -v s="$1" '$1 == s { print $2 }')
    if [ -z "$version" ]; then
        echo "venvkit: no suite '$1' in venvkit.conf (known: $(venvkit_suites))" >&2
        return 1
    fi
    echo "$version"
}

# image_budget IMAGE: its size budget in MB, or nothing.
image_budget() {
    local pattern mb
    while read -r pattern mb; do
        # shellcheck disable=SC2254 # the pattern is a glob on purpose
        case $1 in $pattern) echo "$mb"; return ;; esac
    done < <(conf budget)
}

# default_epoch PATH...: the time of the last commit that changed PATHs (all
# of the repository without any), so rebuilds from the same commit are
# identical; 0 outside a git checkout.
default_epoch() {
    local epoch
    epoch=$(git -C "$VENVKIT_REPO" log -1 --format=%ct -- "$@" 2>/dev/null || true)
    echo "${epoch:-0}"
}

# The engine is podman: venvkit's demo and tests run containers in pods
# (shared loopback, --add-host), and reproducible images need --timestamp.
# Images it builds load into Docker with `podman save IMAGE | docker load`.
if [ -n "${CONTAINER_ENGINE:-}" ] && [ "$CONTAINER_ENGINE" != podman ]; then
    echo "venvkit: CONTAINER_ENGINE=$CONTAINER_ENGINE is not supported: images are built and tested with podman (pods, --timestamp); unset it" >&2
    exit 2
fi
ENGINE=podman
# The settings this kind of sandboxed machine needs (see the file).
: "${CONTAINERS_CONF:=$VENVKIT_REPO/images/containers.conf}"
export CONTAINERS_CONF

# ENGINE_BUILD_FLAGS: extra flags for every build (an array), e.g. --no-cache.
engine_build() {
    # --timestamp clamps the image's creation time and every file's mtime:
    # the same inputs give the same image ID.
    local args=(build --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" --timestamp "$SOURCE_DATE_EPOCH" --layers
        "${ENGINE_BUILD_FLAGS[@]}")
    if [ -n "${EXTRA_CA_CERT:-}" ]; then
        if [ ! -r "$EXTRA_CA_CERT" ]; then
            echo "venvkit: EXTRA_CA_CERT=$EXTRA_CA_CERT is not a readable file" >&2
            return 2
        fi
        args+=(--secret "id=extra_ca,src=$EXTRA_CA_CERT")
    fi
    # The build's output goes to a log, shown only when the build fails.
    # Built again once if podman lost a layer to a concurrent `rmi` while it
    # looked for a cached one ("layer not known": podman 4.3 checks cache
    # candidates without a lock against removal).
    local log attempt
    log=$(mktemp)
    for attempt in 1 2; do
        if "$ENGINE" "${args[@]}" "$@" >"$log" 2>&1; then
            rm -f "$log"
            return 0
        fi
        if [ "$attempt" = 2 ] || ! grep -q "layer not known" "$log"; then
            break
        fi
    done
    tail -n 30 "$log" >&2
    rm -f "$log"
    return 1
}

# The architectures venvkit builds images, demos and packages for (Debian's
# names; arch_machine gives each one's machine name).
VENVKIT_ARCHES=(amd64 arm64)

# venvkit_arch WHO [EXTRA...]: ARCH (this machine's architecture when ARCH is
# unset or empty) if it is one of VENVKIT_ARCHES or EXTRA; otherwise one line
# on stderr naming WHO, and status 2.
venvkit_arch() {
    local who=$1 arch=${ARCH:-$(dpkg --print-architecture)} known
    shift
    local allowed=("${VENVKIT_ARCHES[@]}" "$@")
    for known in "${allowed[@]}"; do
        if [ "$arch" = "$known" ]; then
            echo "$arch"
            return 0
        fi
    done
    echo "$who: ARCH=$arch is not one of: ${allowed[*]}" >&2
    return 2
}

# arch_machine ARCH: the machine name (uname -m, Rust's target prefix) of a
# Debian architecture.
arch_machine() {
    case $1 in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        *) echo "venvkit: no machine name known for the architecture $1" >&2; return 1 ;;
    esac
}

# debian_repository ARCH: where Debian's official images for ARCH are: the
# multi-architecture repository for this machine's, Docker Hub's
# per-architecture one (arm64v8/debian, amd64/debian) for another, so that
# neither hides the other under one local name.
debian_repository() {
    if [ "$1" = "$(dpkg --print-architecture)" ]; then
        echo docker.io/library/debian
    else
        case $1 in
            arm64) echo docker.io/arm64v8/debian ;;
            *) echo "docker.io/$1/debian" ;;
        esac
    fi
}

# debian_slim SUITE ARCH: the name of Debian's slim image of SUITE for ARCH.
debian_slim() { echo "$(debian_repository "$2"):$1-slim"; }

# tag_image IMAGE NAME...: every NAME names IMAGE (an ID or a name), taken
# from the image or manifest list it named before.
tag_image() {
    local image=$1 name
    shift
    for name in "$@"; do
        if "$ENGINE" manifest exists "$name" 2>/dev/null; then
            "$ENGINE" manifest rm "$name" >/dev/null
        fi
    done
    "$ENGINE" tag "$image" "$@"
}

# manifest_list NAME IMAGE...: NAME becomes a manifest list of the local
# IMAGEs (one for each architecture), replacing the image or list it named.
manifest_list() {
    local name=$1 image
    shift
    if "$ENGINE" manifest exists "$name" 2>/dev/null; then
        "$ENGINE" manifest rm "$name" >/dev/null
    elif engine_has_image "$name"; then
        "$ENGINE" untag "$name" "$name"
    fi
    "$ENGINE" manifest create "$name" >/dev/null
    for image in "$@"; do
        "$ENGINE" manifest add "$name" "containers-storage:$(engine_image_digest "$image" | cut -d: -f2)" >/dev/null
    done
}

engine_has_image() {
    "$ENGINE" image inspect "$1" >/dev/null 2>&1
}

engine_image_size() {
    "$ENGINE" image inspect --format '{{.Size}}' "$1"
}

engine_image_digest() {
    "$ENGINE" image inspect --format '{{.Id}}' "$1" | sed 's/^\(sha256:\)\{0,1\}/sha256:/'
}

# seconds_since START [DECIMALS]: seconds since START, a `date +%s.%N` time,
# with DECIMALS decimals (default 1).
seconds_since() { awk -v s="$1" -v e="$(date +%s.%N)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, e - s }'; }

# megabytes IMAGE: the image's size in MB (10^6 bytes), one decimal.
megabytes() { awk -v b="$(engine_image_size "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# timed_stop CONTAINER: SIGTERM to the container's PID 1, the signal `stop`
# sends first, then `stop -t 10` as a user would (it kills what is left after
# 10 s). Sets `exited`, the seconds from the signal to the container's last
# process ending (the engine's State.FinishedAt): the image's own share; and
# `stop`, the seconds from the signal to the stop command returning, which
# adds the engine's teardown of the container (0.2-0.3 s of podman 4.3's
# here); both to the hundredth; and `exit_code`. The signal is sent from here
# rather than timed from the start of `stop`, whose own start-up (0.1-0.3 s
# on a busy machine) is the engine's, not the image's. A rootful engine's
# PIDs are this host's, and a rootless one's processes are the caller's;
# where neither holds (another user's daemon), the engine sends it.
# shellcheck disable=SC2034 # stop, exited and exit_code are for the caller
timed_stop() {
    local pid started finished
    pid=$("$ENGINE" inspect --format '{{.State.Pid}}' "$1")
    started=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null || "$ENGINE" kill --signal TERM "$1" >/dev/null
    "$ENGINE" stop -t 10 "$1" >/dev/null
    stop=$(seconds_since "$started" 2)
    finished=$("$ENGINE" inspect --format '{{.State.FinishedAt.UnixNano}}' "$1")
    exited=$(awk -v s="$started" -v f="$finished" 'BEGIN { printf "%.2f", f / 1e9 - s }')
    exit_code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$1")
}

# podman-compose from PyPI, pinned by the Makefile (deps-images): Debian's
# 1.0.3 leaves the project's network behind on `down`.
COMPOSE=${COMPOSE:-$VENVKIT_REPO/target/podman-compose/bin/podman-compose}

# docker_engine_answers: whether the docker CLI has the compose plugin and a
# Docker Engine answers it on a unix socket of this machine. Not podman's
# Docker API (its images are podman's already, and its compose labels are
# podman-compose's), nor a remote engine (tcp://, ssh://: the round asks the
# app's published port on this machine's loopback).
docker_engine_answers() {
    local host components
    command -v docker >/dev/null && docker compose version >/dev/null 2>&1 || return 1
    host=$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null) || return 1
    case $host in unix://*) ;; *) return 1 ;; esac
    # Asking the server: the CLI alone is not an engine.
    components=$(timeout 20 docker version --format '{{range .Server.Components}}{{.Name}};{{end}}' 2>/dev/null) \
        || return 1
    case ";$components" in
        *";Podman Engine;"*) return 1 ;;
        *";Engine;"*) return 0 ;;
        *) return 1 ;;
    esac
}

# compose_engine: which engine runs the examples' compose files: `docker`
# (`docker compose`) when docker_engine_answers, `podman` (podman-compose)
# otherwise. VENVKIT_COMPOSE=docker|podman chooses; anything else is a usage
# error (one line, status 2).
compose_engine() {
    case ${VENVKIT_COMPOSE:-} in
        docker | podman) echo "$VENVKIT_COMPOSE" ;;
        "")
            if docker_engine_answers; then
                echo docker
            else
                echo podman
            fi
            ;;
        *)
            echo "venvkit: VENVKIT_COMPOSE=$VENVKIT_COMPOSE: expected docker or podman" >&2
            return 2
            ;;
    esac
}

# docker_load IMAGE...: each IMAGE as podman has it, loaded into the Docker
# engine under the same name, unless the engine has it already (the same image
# ID: both hash the same image config; Docker's containerd image store IDs by
# manifest, so there it loads every time). One archive for all of them, so the
# layers they share are saved and loaded once. The image a name leaves is
# removed unless something else uses it. Fails, naming it, if podman has no
# IMAGE (compose would pull one of that name from Docker Hub).
docker_load() {
    local image id wanted=() replaced=() loaded
    for image in "$@"; do
        id=$(engine_image_digest "$image" 2>/dev/null) || id=
        if [ -z "$id" ]; then
            echo "venvkit: podman has no image $image: build it first (make demo does)" >&2
            return 1
        fi
        loaded=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || loaded=
        if [ "$loaded" != "$id" ]; then
            wanted+=("$image")
            [ -z "$loaded" ] || replaced+=("$loaded")
        fi
    done
    [ ${#wanted[@]} -gt 0 ] || return 0
    echo "loading into the Docker engine: ${wanted[*]}"
    # podman names its images localhost/NAME; Docker reads NAME as docker.io's.
    "$ENGINE" save --multi-image-archive --format docker-archive "${wanted[@]}" | docker load \
        | sed -n 's/^Loaded image: //p' | while read -r loaded; do
            [ "$loaded" = "${loaded#localhost/}" ] && continue
            { docker tag "$loaded" "${loaded#localhost/}" && docker rmi "$loaded" >/dev/null; } || exit 1
        done || return 1
    for id in "${replaced[@]}"; do
        docker image rm "$id" >/dev/null 2>&1 || true
    done
}

# compose_round DIR PORT_VARIABLE HEALTH_PATH [PROFILE:SERVICE...]: DIR/compose.yaml's
# app and database up, the app's HEALTH_PATH asked from the host on a free
# loopback port (given to compose as PORT_VARIABLE), each test SERVICE of its
# PROFILE run (default test:test), then `down`; with `docker compose` when a
# Docker engine answers (compose_engine), its images loaded into it first.
# Prints what it saw; returns non-zero if any step failed or if `down` left a
# container or network of the project behind.
compose_round() {
    local dir=$1 port_variable=$2 path=$3 project status=0 port left engine
    shift 3
    local runs=("${@:-test:test}") profiles=() run
    for run in "${runs[@]}"; do profiles+=(--profile "${run%%:*}"); done
    project=$(awk '$1 == "name:" { print $2; exit }' "$dir/compose.yaml")
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    engine=$(compose_engine) || return 2
    local compose label
    if [ "$engine" = docker ]; then
        compose=(docker compose -f "$dir/compose.yaml")
        label=com.docker.compose.project
        echo "compose engine: docker compose $(docker compose version --short) (Docker Engine $(docker version --format '{{.Server.Version}}'))"
        # shellcheck disable=SC2046 # one image name per word
        docker_load $(awk '$1 == "image:" { print $2 }' "$dir/compose.yaml" | sort -u) || return 1
    else
        compose=("$COMPOSE" -f "$dir/compose.yaml")
        label=io.podman.compose.project
        echo "compose engine: $("$COMPOSE" --version | head -n 1)"
    fi
    export "$port_variable=$port"
    # podman-compose echoes every podman command and podman warns that it has
    # no systemd for health-check timers: the log is shown only on failure.
    local log
    log=$(mktemp)
    if "${compose[@]}" up -d app >"$log" 2>&1 \
        && "$VENVKIT_REPO/target/bin/wait-for-port" -q -t 60s "http://127.0.0.1:$port$path"; then
        echo "compose up: GET $path -> $(python3 -c 'import sys, urllib.request as r; print(r.urlopen(sys.argv[1]).status)' "http://127.0.0.1:$port$path")"
    else
        tail -n 30 "$log" >&2
        status=1
    fi
    for run in "${runs[@]}"; do
        [ "$status" = 0 ] || break
        if "${compose[@]}" --profile "${run%%:*}" run --rm "${run#*:}" >"$log" 2>&1; then
            echo "compose run ${run#*:}: passed"
        else
            tail -n 30 "$log" >&2
            echo "compose run ${run#*:}: failed" >&2
            status=1
        fi
    done
    "${compose[@]}" "${profiles[@]}" down >"$log" 2>&1 || { tail -n 30 "$log" >&2; status=1; }
    rm -f "$log"
    left=$( { "$engine" ps -a --filter "label=$label=$project" --format '{{.Names}}'
              "$engine" network ls --filter "label=$label=$project" --format '{{.Name}}'; } | xargs) \
        || left="(the $engine engine could not list them)"
    if [ -n "$left" ]; then
        echo "compose down left: $left" >&2
        status=1
    else
        echo "compose down: nothing left"
    fi
    return "$status"
}
