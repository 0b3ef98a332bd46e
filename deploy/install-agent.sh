#!/usr/bin/env bash
# Installs the LoaLang edge agent on a speaker box (issue 20): Debian 12 (or Raspberry Pi OS
# bookworm) on arm64 or x64. Run as root, with a release bundle and the agent config the console
# gave when the speaker was added:
#
#   sudo ./install-agent.sh --bundle agent-1.2.0.tar.gz --config loa-01.json \
#        [--release-key release.key.pub.json] [--serial-port /dev/ttyUSB0] [--audio-sink alsa:default]
#
# What it does, in order (each step can be run again; a refused bundle changes nothing):
#  1. checks the bundle's signature against the release keys (the config's "releaseKeys" and
#     any --release-key), its architecture, and the version against what the box has;
#  2. installs Node of the major the bundle was built with (from --node-tarball, or the
#     official build from nodejs.org, its SHA-256 checked) unless a fitting one is there, and
#     ffmpeg (apt);
#  3. makes the `loalang` system user, in the audio and dialout groups;
#  4. unpacks the bundle to /opt/loalang/releases/<version>, checks every file, and points
#     /opt/loalang/current and /opt/loalang/confirmed at it;
#  5. writes /etc/loalang/agent.json (mode 0640, root:loalang) with installRoot, releaseKeys and
#     cacheDir set, and the unit /etc/systemd/system/loalang-agent.service; enables and
#     (re)starts it.
#
# --prefix DIR installs into DIR instead of / (DIR/opt/loalang, DIR/etc/loalang, …) and skips
# what needs root (packages, the user, systemctl): how it is tested, and how an image is prepared.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="" BUNDLE="" CONFIG="" NODE_TARBALL="" SERIAL_PORT="" AUDIO_SINK="" ALLOW_DOWNGRADE=0 START=1
KEY_FILES=()

say() { printf 'install-agent: %s\n' "$*" >&2; }
die() {
  say "$1"
  [ -n "${2:-}" ] && printf 'install-agent: %s\n' "$2" >&2
  exit 1
}
usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --release-key) KEY_FILES+=("$2"); shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --node-tarball) NODE_TARBALL="$2"; shift 2 ;;
    --serial-port) SERIAL_PORT="$2"; shift 2 ;;
    --audio-sink) AUDIO_SINK="$2"; shift 2 ;;
    --allow-downgrade) ALLOW_DOWNGRADE=1; shift ;;
    --no-start) START=0; shift ;;
    -h | --help) usage ;;
    *) say "unknown option $1"; usage ;;
  esac
done

[ -n "$BUNDLE" ] || die "--bundle is required: a release bundle from 'loalang release pack'" "cần --bundle: gói phát hành do 'loalang release pack' tạo"
[ -f "$BUNDLE" ] || die "no bundle at $BUNDLE" "không có gói tại $BUNDLE"
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  case "$PREFIX" in *[[:space:]]*) die "--prefix may not hold spaces: the unit's command lines name paths under it" "--prefix không được có dấu cách" ;; esac
elif [ "$(id -u)" != 0 ]; then
  die "run it as root (sudo), or with --prefix DIR to install into a folder" "hãy chạy bằng quyền root (sudo), hoặc dùng --prefix DIR"
fi
OPT="$PREFIX/opt/loalang"
ETC="$PREFIX/etc/loalang"
STATE="$PREFIX/var/lib/loalang-agent"
UNIT_DIR="$PREFIX/etc/systemd/system"
CONFIG_OUT="$ETC/agent.json"
if [ -z "$CONFIG" ]; then
  [ -f "$CONFIG_OUT" ] || die "--config is required on a first install: the agent config the console gave for this speaker" "lần cài đầu cần --config: tệp cấu hình của loa do bảng điều khiển cấp"
  CONFIG="$CONFIG_OUT"
fi
[ -f "$CONFIG" ] || die "no config at $CONFIG" "không có tệp cấu hình tại $CONFIG"

case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) die "this box is $(uname -m): releases are built for x64 and arm64 only" "máy này là $(uname -m): chỉ hỗ trợ x64 và arm64" ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$BUNDLE" -C "$WORK" manifest.json manifest.sig 2>"$WORK/tar.err" ||
  die "refused: bad-manifest: $BUNDLE is not a release bundle ($(head -c 200 "$WORK/tar.err"))" "bị từ chối: không phải gói phát hành"
ABI_WANTED="$(grep -o '"nodeAbi": *\("[0-9]*"\|null\)' "$WORK/manifest.json" | grep -o '[0-9][0-9]*\|null' || true)"

# --- Node: the major the bundle's compiled modules were built for (its ABI), 20 or later.
node_major_of_abi() {
  case "$1" in
    115) echo 20 ;;
    127) echo 22 ;;
    137) echo 24 ;;
    null | "") echo 20 ;;
    *) echo "" ;;
  esac
}
node_fits() {
  local node="$1"
  [ -x "$node" ] || return 1
  local major abi
  major="$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || return 1
  abi="$("$node" -p 'process.versions.modules' 2>/dev/null)" || return 1
  [ "$major" -ge 20 ] || return 1
  [ "$ABI_WANTED" = null ] || [ -z "$ABI_WANTED" ] || [ "$abi" = "$ABI_WANTED" ]
}
NODE_MAJOR="$(node_major_of_abi "$ABI_WANTED")"
[ -n "$NODE_MAJOR" ] || die "the bundle needs Node ABI $ABI_WANTED, which this script does not know: install that Node by hand, then run it again"
NODE="$(command -v node || true)"
if ! node_fits "${NODE:-/nonexistent}"; then
  [ -z "$PREFIX" ] || [ -n "$NODE_TARBALL" ] || die "no Node $NODE_MAJOR here (node on PATH: ${NODE:-none}); with --prefix, give --node-tarball or put it on PATH"
  NODE_HOME="${PREFIX:-/usr/local}/lib/nodejs"
  if [ -z "$NODE_TARBALL" ]; then
    say "installing Node $NODE_MAJOR for linux-$ARCH from nodejs.org"
    command -v curl >/dev/null && command -v xz >/dev/null || { apt-get update && apt-get install -y curl xz-utils ca-certificates; }
    BASE="https://nodejs.org/dist/latest-v$NODE_MAJOR.x"
    curl -fsSL "$BASE/SHASUMS256.txt" -o "$WORK/SHASUMS256.txt"
    NAME="$(grep -o "node-v[0-9.]*-linux-$ARCH\.tar\.xz" "$WORK/SHASUMS256.txt" | head -1)"
    [ -n "$NAME" ] || die "nodejs.org lists no Node $NODE_MAJOR for linux-$ARCH"
    curl -fsSL "$BASE/$NAME" -o "$WORK/$NAME"
    (cd "$WORK" && grep " $NAME\$" SHASUMS256.txt | sha256sum -c --quiet -) || die "the Node download does not match nodejs.org's SHA-256"
    NODE_TARBALL="$WORK/$NAME"
  fi
  rm -rf "$NODE_HOME.new" && mkdir -p "$NODE_HOME.new"
  tar -xf "$NODE_TARBALL" -C "$NODE_HOME.new" --strip-components=1 --no-same-owner
  rm -rf "$NODE_HOME" && mv "$NODE_HOME.new" "$NODE_HOME"
  NODE="$NODE_HOME/bin/node"
  [ -n "$PREFIX" ] || ln -sfn "$NODE" /usr/local/bin/node
  node_fits "$NODE" || die "the Node installed does not fit the bundle (ABI $ABI_WANTED)"
fi
NODE_ABI="$("$NODE" -p 'process.versions.modules')"
say "Node $("$NODE" --version) at $NODE"

# --- 1. The bundle's signature, architecture and version, before anything of it is written.
KEYS="$("$NODE" -e '
  const fs = require("node:fs");
  const [config, ...files] = process.argv.slice(1);
  const keys = [...(JSON.parse(fs.readFileSync(config, "utf8")).releaseKeys ?? []), ...files.map((f) => JSON.parse(fs.readFileSync(f, "utf8")))];
  const seen = new Set();
  console.log(JSON.stringify(keys.filter((k) => k && k.kid && k.publicKey && !seen.has(k.kid) && seen.add(k.kid)).map(({ kid, publicKey }) => ({ kid, publicKey })).slice(0, 4)));
' "$CONFIG" "${KEY_FILES[@]+"${KEY_FILES[@]}"}")" || die "cannot read the release keys from $CONFIG ${KEY_FILES[*]+"${KEY_FILES[*]}"}"
[ "$KEYS" != "[]" ] || die "no release key: give --release-key FILE.pub.json (from loalang release keygen), or a config made by a server with LOALANG_RELEASE_KEYS" "chưa có khóa phát hành: dùng --release-key"
CONFIRMED=""
[ -L "$OPT/confirmed" ] && CONFIRMED="$(basename "$(readlink "$OPT/confirmed")")"
VERSION="$("$NODE" "$HERE/verify-bundle.mjs" head "$WORK/manifest.json" "$WORK/manifest.sig" "$KEYS" "$ARCH" "$NODE_ABI" "$CONFIRMED" "$ALLOW_DOWNGRADE")" || exit 1

# --- 2. ffmpeg (the agent plays through it) and the user.
if [ -z "$PREFIX" ]; then
  command -v ffmpeg >/dev/null || { say "installing ffmpeg"; apt-get update && apt-get install -y ffmpeg; }
  if ! id loalang >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin loalang
  fi
  usermod -a -G audio,dialout loalang
else
  command -v ffmpeg >/dev/null || say "warning: no ffmpeg on PATH; the box needs it to play (apt-get install ffmpeg)"
fi

# --- 3. The release, unpacked next to any other and checked file by file.
mkdir -p "$OPT/releases" "$STATE" "$ETC" "$UNIT_DIR"
INCOMING="$OPT/releases/.incoming-$$"
rm -rf "$INCOMING" && mkdir "$INCOMING"
if ! tar -xzf "$BUNDLE" -C "$INCOMING" --no-same-owner --no-same-permissions manifest.json manifest.sig app 2>"$WORK/tar.err"; then
  rm -rf "$INCOMING"
  die "refused: bad-manifest: the bundle does not unpack ($(head -c 200 "$WORK/tar.err"))" "bị từ chối: gói không giải nén được"
fi
if ! cmp -s "$WORK/manifest.json" "$INCOMING/manifest.json" || ! "$NODE" "$HERE/verify-bundle.mjs" files "$INCOMING/manifest.json" "$INCOMING/app"; then
  rm -rf "$INCOMING"
  exit 1
fi
sync -f "$INCOMING" 2>/dev/null || sync
rm -rf "${OPT:?}/releases/$VERSION"
mv -T "$INCOMING" "$OPT/releases/$VERSION"
point() {
  ln -sfn "releases/$VERSION" "$OPT/.$1.tmp"
  mv -Tf "$OPT/.$1.tmp" "$OPT/$1"
}
point current
point confirmed
# A trial under way is over: a person installed this release by hand.
"$NODE" -e '
  const fs = require("node:fs");
  const [file, version] = process.argv.slice(1);
  let state = { trial: null, last: null };
  try { state = { ...state, ...JSON.parse(fs.readFileSync(file, "utf8")) }; } catch {}
  if (state.trial) state.last = { version: state.trial.version, from: state.trial.from, outcome: "rolled-back", reason: `replaced by ${version}, installed by hand`, at: Date.now(), rolloutId: state.trial.rolloutId, reported: false };
  state.trial = null;
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + "\n");
  fs.renameSync(`${file}.tmp`, file);
' "$OPT/update-state.json" "$VERSION"
sync -f "$OPT" 2>/dev/null || sync

# --- 4. The config and the unit.
"$NODE" -e '
  const fs = require("node:fs");
  const [from, to, installRoot, cacheDir, keys, serialPort, audioSink] = process.argv.slice(1);
  const c = JSON.parse(fs.readFileSync(from, "utf8"));
  c.installRoot = installRoot;
  c.cacheDir = cacheDir;
  c.releaseKeys = JSON.parse(keys);
  if (serialPort) c.serial = { ...(c.serial ?? {}), path: serialPort };
  if (audioSink) c.audioSink = audioSink;
  fs.writeFileSync(`${to}.tmp`, JSON.stringify(c, null, 2) + "\n", { mode: 0o640 });
  fs.renameSync(`${to}.tmp`, to);
' "$CONFIG" "$CONFIG_OUT" "/opt/loalang" "/var/lib/loalang-agent/cache" "$KEYS" "$SERIAL_PORT" "$AUDIO_SINK"
if [ -n "$PREFIX" ]; then
  # Paths inside the config and unit are the box's; under a prefix they point into it.
  "$NODE" -e '
    const fs = require("node:fs");
    const [file, prefix] = process.argv.slice(1);
    const c = JSON.parse(fs.readFileSync(file, "utf8"));
    c.installRoot = prefix + c.installRoot;
    c.cacheDir = prefix + c.cacheDir;
    fs.writeFileSync(file, JSON.stringify(c, null, 2) + "\n", { mode: 0o640 });
  ' "$CONFIG_OUT" "$PREFIX"
fi
sed -e "s#/usr/bin/node #$NODE #g" \
  -e "s#/opt/loalang#$OPT#g" -e "s#/etc/loalang/#$ETC/#g" -e "s#/var/lib/loalang-agent#$STATE#g" \
  "$HERE/loalang-agent.service" >"$UNIT_DIR/loalang-agent.service.tmp"
mv -f "$UNIT_DIR/loalang-agent.service.tmp" "$UNIT_DIR/loalang-agent.service"

if [ -z "$PREFIX" ]; then
  chown -R loalang:loalang "$OPT" "$STATE"
  chown root:loalang "$CONFIG_OUT"
  chmod 0640 "$CONFIG_OUT"
  systemctl daemon-reload
  systemctl enable loalang-agent.service
  [ "$START" = 1 ] && systemctl restart loalang-agent.service
fi
say "installed release $VERSION for linux-$ARCH in $OPT (current and confirmed); config $CONFIG_OUT; unit $UNIT_DIR/loalang-agent.service"
say "đã cài bản $VERSION"
