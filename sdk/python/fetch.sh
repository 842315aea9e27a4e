#!/bin/sh
# fetch.sh PACKAGES DEST: puts the Python packages that PACKAGES pins (Debian trixie,
# one package=version a line) in DEST, flat, as a sys.path entry, compiled to bytecode
# by the host's python3 (the sandbox's copy is read-only, so nothing could be cached
# there at run time). Does nothing when DEST/.stamp says it already holds them for
# this interpreter. apt runs on a private state directory: the system's sources,
# lists and cache are neither read for packages nor changed.
set -eu
list=$1
dest=$2
py=${PYTHON3:-/usr/bin/python3}
pins=$(grep -v '^[[:space:]]*\(#\|$\)' "$list")
want="$pins
python $("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ]; then
	exit 0
fi
echo "fetching the Python AWS SDK (Debian trixie: $(echo $pins | tr '\n' ' '))"
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-sdk-python.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb http://deb.debian.org/debian trixie main" >"$work/sources.list"
set -- -q -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" \
	-o Dir::State::status=/dev/null -o APT::Sandbox::User="$(id -un)"
apt-get "$@" update >"$work/update.log" 2>&1 || {
	cat "$work/update.log" >&2
	echo "sdk: apt-get update of Debian trixie failed" >&2
	exit 1
}
# Error lines of apt ("E: ...") mean a pin trixie no longer serves: update PACKAGES.
(cd "$work/debs" && apt-get "$@" download $pins) || {
	echo "sdk: downloading $list's pins from Debian trixie failed; if a version is gone, pin what 'apt-cache policy' shows" >&2
	exit 1
}
for deb in "$work"/debs/*.deb; do
	dpkg-deb -x "$deb" "$work/root"
done
src="$work/root/usr/lib/python3/dist-packages"
[ -f "$src/boto3/__init__.py" ] && [ -f "$src/botocore/__init__.py" ] || {
	echo "sdk: the packages hold no boto3/botocore under /usr/lib/python3/dist-packages" >&2
	exit 1
}
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new"
cp -a "$src" "$dest.new"
"$py" -m compileall -q -j 0 "$dest.new" >/dev/null
chmod -R a+rX,go-w "$dest.new"
printf '%s\n' "$want" >"$dest.new/.stamp"
rm -rf "$dest"
mv "$dest.new" "$dest"
