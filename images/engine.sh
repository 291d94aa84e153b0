# The container engine for images/build and the image tests: docker when a
# Docker engine answers, podman otherwise; CONTAINER_ENGINE overrides.
# Sourced, not run.

if [ -z "${CONTAINER_ENGINE:-}" ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        CONTAINER_ENGINE=docker
    else
        CONTAINER_ENGINE=podman
    fi
fi
ENGINE=$CONTAINER_ENGINE
if [ "$ENGINE" = podman ]; then
    # The settings this kind of sandboxed machine needs (see the file).
    : "${CONTAINERS_CONF:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"
    export CONTAINERS_CONF
fi

# ENGINE_BUILD_FLAGS: extra flags for every build (an array), e.g. --no-cache.
engine_build() {
    local args=(build --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "${ENGINE_BUILD_FLAGS[@]}")
    if [ "$ENGINE" = podman ]; then
        # Clamps the image's creation time and every file's mtime: the same
        # inputs give the same image ID.
        args+=(--timestamp "$SOURCE_DATE_EPOCH" --layers)
    fi
    if [ -n "${EXTRA_CA_CERT:-}" ]; then
        if [ ! -r "$EXTRA_CA_CERT" ]; then
            echo "images: EXTRA_CA_CERT=$EXTRA_CA_CERT is not a readable file" >&2
            return 2
        fi
        args+=(--secret "id=extra_ca,src=$EXTRA_CA_CERT")
    fi
    # The build's output goes to a log, shown only when the build fails.
    local log
    log=$(mktemp)
    if ! "$ENGINE" "${args[@]}" "$@" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
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
