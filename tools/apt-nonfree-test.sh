#!/usr/bin/env bash
# tools/apt-nonfree-test.sh — runs tools/apt-nonfree.sh on sample /etc trees and compares its output with the expected
# sources file; prints each difference on stderr and fails when any case differs. Touches nothing outside a temporary folder.
set -euo pipefail

script="$(cd "$(dirname "$0")" && pwd)/apt-nonfree.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-nonfree-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

# case NAME: makes a sample root from the heredoc's "=== path" sections; the section "=== expected" is the output.
case_() {
  local name=$1 root="$work/$1" path=
  mkdir -p "$root"
  while IFS= read -r line; do
    if [[ "$line" == "=== "* ]]; then path="$root/${line#=== }"; mkdir -p "$(dirname "$path")"; : >"$path"
    else printf '%s\n' "$line" >>"$path"; fi
  done
  if diff -u "$root/expected" <("$script" "$root" 2>&1) >"$work/$name.diff"; then echo "ok   $name"
  else echo "FAIL $name" >&2; cat "$work/$name.diff" >&2; failures=$((failures + 1)); fi
}

os_release='=== etc/os-release
ID=debian
VERSION_CODENAME=bookworm'

# This CI machine's layout: deb822 with a snapshot comment, a security entry, apt's ignored file names and an earlier
# fixed mezo-nonfree.list (the script's own output is never an input).
case_ deb822 <<EOF
$os_release
=== etc/apt/sources.list.d/debian.sources
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
=== etc/apt/sources.list.d/nodesource.sources
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
=== etc/apt/sources.list.d/google-cloud-sdk.list.disabled-by-farm
deb https://packages.cloud.google.com/apt bookworm main
=== etc/apt/sources.list.d/mezo-nonfree.list
deb http://old.example.org/debian bookworm contrib non-free
=== expected
# contrib and non-free beside /etc/apt/sources.list.d/debian.sources
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# contrib and non-free beside /etc/apt/sources.list.d/debian.sources
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# The one-line format with options, a mirror, deb-src, comments, a third-party repository and an entry that has
# contrib already (only non-free is added); a disabled deb822 stanza and a multi-line inline key in .sources.
case_ one-line <<EOF
$os_release
=== etc/apt/sources.list
# deb http://deb.debian.org/debian bookworm main
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://mirror.example.org/debian bookworm main
deb-src http://mirror.example.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main contrib # with contrib
deb https://download.docker.com/linux/debian bookworm stable
deb http://deb.debian.org/debian bullseye main
=== etc/apt/sources.list.d/backports.sources
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOJ
 -----END PGP PUBLIC KEY BLOCK-----

Enabled: no
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-proposed-updates
Components: main
=== expected
# contrib and non-free beside /etc/apt/sources.list
Types: deb
URIs: http://mirror.example.org/debian
Suites: bookworm
Components: contrib non-free
Architectures: amd64
signed-by: /usr/share/keyrings/debian-archive-keyring.gpg

# contrib and non-free beside /etc/apt/sources.list
Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: non-free

# contrib and non-free beside /etc/apt/sources.list.d/backports.sources
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: contrib non-free
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOJ
 -----END PGP PUBLIC KEY BLOCK-----
EOF

case_ complete <<EOF
$os_release
=== etc/apt/sources.list
deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware
=== expected
EOF

case_ no-debian-entry <<EOF
$os_release
=== etc/apt/sources.list
deb https://download.docker.com/linux/debian bookworm stable
=== expected
apt-nonfree.sh: no Debian bookworm entry with main in $work/no-debian-entry/etc/apt
EOF

case_ not-debian <<EOF
=== etc/os-release
ID=ubuntu
VERSION_CODENAME=noble
=== etc/apt/sources.list
deb http://archive.ubuntu.com/ubuntu noble main
=== expected
apt-nonfree.sh: $work/not-debian/etc/os-release says ID=ubuntu, VERSION_CODENAME=noble; contrib and non-free are Debian's
EOF

[ "$failures" -eq 0 ] || { echo "$failures case(s) failed" >&2; exit 1; }
