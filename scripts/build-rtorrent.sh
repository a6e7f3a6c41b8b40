#!/usr/bin/env bash
# Builds the current rtorrent release (libtorrent + rtorrent, XML-RPC through the bundled tinyxml2,
# JSON-RPC built in) from the source tarballs in vendor/rtorrent, for the test suites that run
# against it beside Debian's 0.9.8.
#
#   scripts/build-rtorrent.sh [PREFIX]
#
# PREFIX defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/rtorrent-gateway/rtorrent-VERSION, the place
# test/helpers/rtorrent.ts looks: outside the clone, so a fresh clone on a warm machine reuses it.
# A PREFIX that already holds a binary passing the smoke test is left alone (a few seconds).
# The last line on stdout is the binary's path; progress goes to stderr.
#
#   JOBS=N    parallel make jobs (default: the number of CPUs)
#   NO_APT=1  fail on missing build packages instead of installing them
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCES="$HERE/../vendor/rtorrent"
VERSION="0.16.20"
CACHE="${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}"
PREFIX="${1:-$CACHE/rtorrent-gateway/rtorrent-$VERSION}"
JOBS="${JOBS:-$(nproc)}"
BIN="$PREFIX/bin/rtorrent"

say() { echo "build-rtorrent: $*" >&2; }
case "$PREFIX" in /*) ;; *) say "PREFIX must be an absolute path, not $PREFIX"; exit 2 ;; esac

# Starts the binary headless on a temporary socket and asks its version over XML-RPC and JSON-RPC:
# a binary that exists but cannot answer both is rebuilt.
smoke_test() {
  [ -x "$BIN" ] || return 1
  "$BIN" -h 2>/dev/null | grep -q "client version $VERSION\." || return 1
  local dir pid status=0
  dir="$(mktemp -d /tmp/rtorrent-smoke.XXXXXX)"
  mkdir -p "$dir/session" "$dir/download"
  "$BIN" -n -o "system.daemon.set=true,session.path.set=$dir/session,directory.default.set=$dir/download,network.scgi.open_local=$dir/rpc.socket,dht.mode.set=disable,network.bind_address.set=127.0.0.1" \
    </dev/null >"$dir/output.log" 2>&1 &
  pid=$!
  node "$HERE/rtorrent-smoke.mjs" "$dir/rpc.socket" "$VERSION" >&2 || status=1
  # The smoke script asked for a normal shutdown; a binary that ignores it is stopped by force.
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$status" = 0 ] || say "smoke test failed; rtorrent said: $(tail -5 "$dir/output.log")"
  rm -rf "$dir"
  return "$status"
}

# Two clones building into one cache at once must not interleave their installs.
mkdir -p "$(dirname "$PREFIX")"
exec 9>"$PREFIX.lock"
flock 9

if smoke_test; then
  say "rtorrent $VERSION already built in $PREFIX"
  echo "$BIN"
  exit 0
fi

(cd "$SOURCES" && sha256sum --quiet -c SHA256SUMS) || { say "the tarballs in $SOURCES do not match SHA256SUMS"; exit 1; }

PACKAGES=(build-essential autoconf automake libtool pkg-config libcurl4-openssl-dev libncurses-dev libssl-dev zlib1g-dev)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ -z "${NO_APT:-}" ] || { say "missing build packages: ${missing[*]}"; exit 1; }
  say "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

WORK="$(mktemp -d /tmp/rtorrent-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/build.log"
step() {
  "$@" >>"$LOG" 2>&1 || { say "failed: $*"; tail -40 "$LOG" >&2; exit 1; }
}

started=$SECONDS
tar -xzf "$SOURCES/libtorrent-v$VERSION.tar.gz" -C "$WORK"
tar -xzf "$SOURCES/rtorrent-v$VERSION.tar.gz" -C "$WORK"

say "libtorrent $VERSION (make -j$JOBS)"
cd "$WORK/libtorrent-$VERSION"
step autoreconf -fi
step ./configure --prefix="$PREFIX" --disable-static
step make -j"$JOBS"
step make install

say "rtorrent $VERSION (make -j$JOBS)"
cd "$WORK/rtorrent-$VERSION"
step autoreconf -fi
# The RPATH lets the binary find this libtorrent without LD_LIBRARY_PATH.
step env PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" ./configure --prefix="$PREFIX" --with-xmlrpc-tinyxml2 LDFLAGS="-Wl,-rpath,$PREFIX/lib"
grep -q '#define HAVE_XMLRPC_TINYXML2 1' config.h || { say "configure did not enable the tinyxml2 XML-RPC"; exit 1; }
step make -j"$JOBS"
step make install

say "built in $((SECONDS - started)) s"
smoke_test || { say "the new build failed its smoke test"; exit 1; }
echo "$BIN"
