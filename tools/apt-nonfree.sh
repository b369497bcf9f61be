#!/usr/bin/env bash
# tools/apt-nonfree.sh [ROOT] — prints a deb822 sources file that adds the contrib and non-free components to this
# machine's own Debian entries, with their URIs, suites and options (Signed-By, Architectures, ...) unchanged, so a
# mirror or a snapshot the machine is set up with is the one used. Reads ROOT/etc/os-release, ROOT/etc/apt/sources.list
# and ROOT/etc/apt/sources.list.d/*.{list,sources} (ROOT defaults to /; tools/apt-nonfree-test.sh passes sample trees).
# Writes nothing itself:  tools/apt-nonfree.sh | sudo tee /etc/apt/sources.list.d/mezo-nonfree.sources
# A Debian entry is one of type deb whose suite is the release's codename or one of its families (bookworm,
# bookworm-updates, bookworm-security, bookworm/updates) and that lists main; a third-party repository matching that
# too only makes apt print a notice about a component it lacks. Entries that already have both components are left
# out; the output is empty when every entry has them. Fails when no Debian entry is found at all.
set -euo pipefail

root=${1:-}
root=${root%/}
release="$root/etc/os-release"
[ -f "$release" ] || { echo "apt-nonfree.sh: $release not found" >&2; exit 1; }
id=$(sed -n 's/^ID=//p' "$release" | tr -d '"')
codename=$(sed -n 's/^VERSION_CODENAME=//p' "$release" | tr -d '"')
[ "$id" = debian ] && [ -n "$codename" ] \
  || { echo "apt-nonfree.sh: $release says ID=$id, VERSION_CODENAME=$codename; contrib and non-free are Debian's" >&2; exit 1; }

# apt reads only these names; mezo-nonfree.* is this script's own output from an earlier run, not the machine's.
shopt -s nullglob
files=()
for f in "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*.list "$root"/etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && [[ "$(basename "$f")" != mezo-nonfree.* ]] && files+=("$f")
done
[ ${#files[@]} -gt 0 ] || { echo "apt-nonfree.sh: no apt sources under $root/etc/apt" >&2; exit 1; }

awk -v codename="$codename" -v root="$root" '
function debian_suite(s) { return s == codename || index(s, codename "-") == 1 || index(s, codename "/") == 1 }
function has(list, word,   n, i, w) { n = split(list, w, /[ \t]+/); for (i = 1; i <= n; i++) if (w[i] == word) return 1; return 0 }
function missing(components,   m) {
  m = has(components, "contrib") ? "" : "contrib"
  if (!has(components, "non-free")) m = m (m == "" ? "" : " ") "non-free"
  return m
}
# One stanza per entry; `extra` holds the option lines, already in deb822 form.
function emit(uris, suites, components, extra,   add) {
  if (!has(components, "main")) return
  found = 1
  if ((add = missing(components)) == "") return
  printf "%s# contrib and non-free beside %s\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: %s\n%s", \
    (emitted++ ? "\n" : ""), substr(prev, length(root) + 1), uris, suites, add, extra
}
function debian_suites(list,   n, i, s, out) {
  n = split(list, s, /[ \t]+/); out = ""
  for (i = 1; i <= n; i++) if (s[i] != "" && debian_suite(s[i])) out = out (out == "" ? "" : " ") s[i]
  return out
}

# The one-line format: deb [opt=value ...] URI SUITE COMPONENT...
function one_line(   line, opts, rest, n, o, i, kv, key, extra, f) {
  line = $0; sub(/#.*/, "", line)
  if (line !~ /^[ \t]*deb[ \t]/) return
  sub(/^[ \t]*deb[ \t]+/, "", line); opts = ""
  if (line ~ /^\[/) { opts = substr(line, 2, index(line, "]") - 2); line = substr(line, index(line, "]") + 1) }
  n = split(line, f, /[ \t]+/); rest = ""
  if (f[1] == "") { for (i = 1; i < n; i++) f[i] = f[i + 1]; n-- }
  for (i = 3; i <= n; i++) if (f[i] != "") rest = rest (rest == "" ? "" : " ") f[i]
  if (!debian_suite(f[2])) return
  extra = ""; n = split(opts, o, /[ \t]+/)
  for (i = 1; i <= n; i++) {
    if (o[i] == "" || !index(o[i], "=")) continue
    key = substr(o[i], 1, index(o[i], "=") - 1)
    # deb822 field names are case-insensitive and match the one-line option names but for these three
    key = key == "arch" ? "Architectures" : key == "lang" ? "Languages" : key == "target" ? "Targets" : key
    extra = extra key ": " substr(o[i], index(o[i], "=") + 1) "\n"
  }
  emit(f[1], f[2], rest, extra)
}

# The deb822 format: stanzas of "Field: value" lines (continuation lines start with a blank) between empty lines.
function stanza_end(   suites) {
  if (nfields && tolower(field["enabled"]) != "no" && has(field["types"], "deb") && (suites = debian_suites(field["suites"])) != "")
    emit(field["uris"], suites, field["components"], other)
  delete field; other = ""; nfields = 0; last = ""
}
function deb822(   key) {
  if ($0 ~ /^#/) return
  if ($0 ~ /^[ \t]*$/) { stanza_end(); return }
  if ($0 ~ /^[ \t]/) { if (last != "" && last !~ /^(types|uris|suites|components)$/) other = other $0 "\n"; return }
  key = tolower(substr($0, 1, index($0, ":") - 1)); last = key; nfields++
  field[key] = $0; sub(/^[^:]*:[ \t]*/, "", field[key]); sub(/[ \t]+$/, "", field[key])
  if (key !~ /^(types|uris|suites|components)$/) other = other $0 "\n"
}

# prev is the file the pending stanza came from: a .sources file ends its last stanza when the next file begins.
FNR == 1 && NR > 1 && prev ~ /\.sources$/ { stanza_end() }
{ prev = FILENAME; if (FILENAME ~ /\.sources$/) deb822(); else one_line() }
END {
  if (prev ~ /\.sources$/) stanza_end()
  if (!found) { print "apt-nonfree.sh: no Debian " codename " entry with main in " root "/etc/apt" > "/dev/stderr"; exit 1 }
}
' "${files[@]}"
