#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of checksum against GNU sha256sum, byte for byte (CTest example_checksum_e2e).
#   bash examples/checksum/e2e_test.sh path/to/checksum
#
# Generates a tree with odd names (spaces, backslash, newline, carriage return, quote, leading dash,
# unicode, an empty file, a 5 MiB file, files at the chunk boundary, nested directories, symbolic
# links) and compares, stdout and stderr and exit status:
#   - checksum -r TREE with `find TREE -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`;
#   - operands in argument order, standard input, missing files and a directory without -r;
#   - checksum -c with sha256sum -c on sha256sum's own output: all OK, one file corrupted (FAILED,
#     exit 1), one removed (FAILED open or read), improperly formatted lines, --quiet, --status,
#     --strict, --ignore-missing, the check file on standard input;
#   - the usage errors (exit 2), and the progress line: drawn on a terminal only.
# Every command runs under `timeout`; the temporary directory goes away on any exit.
set -euo pipefail

checksum=$(realpath "${1:?usage: e2e_test.sh path/to/checksum}")
tmp=$(mktemp -d)
trap 'chmod -R u+rwx "$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$tmp"
export LC_ALL=C.UTF-8
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

# run_both NAME ARGS...: runs checksum and sha256sum with the same arguments (stdin from $stdin_file
# when set), compares stdout, stderr (with the program name replaced) and the exit status.
stdin_file=/dev/null
run_both() {
  local what=$1
  shift
  local rc_mine=0 rc_gnu=0
  timeout 30 "$checksum" "$@" <"$stdin_file" >mine.out 2>mine.err || rc_mine=$?
  timeout 30 sha256sum "$@" <"$stdin_file" >gnu.out 2>gnu.err || rc_gnu=$?
  sed -i 's/^sha256sum:/checksum:/' gnu.err
  if ! cmp -s mine.out gnu.out; then
    fail "$what: stdout differs"
    diff <(od -c mine.out) <(od -c gnu.out) | head -20 >&2 || true
  elif ! cmp -s mine.err gnu.err; then
    fail "$what: stderr differs"
    diff mine.err gnu.err | head -20 >&2 || true
  elif [[ $rc_mine -ne $rc_gnu ]]; then
    fail "$what: exit status $rc_mine, sha256sum's $rc_gnu"
  else
    pass "$what (exit $rc_mine, $(wc -l <mine.out) lines)"
  fi
}

# --- the tree --------------------------------------------------------------------------------
mkdir -p t/d1/d2/d3 t/a t/ü-dir "t/dir with space"
printf 'plain\n' >t/plain
printf 'space' >"t/with space"
printf 'back' >'t/back\slash'
printf 'nl' >$'t/new\nline'
printf 'cr' >$'t/carriage\rreturn'
printf 'both' >$'t/both\\and\nnewline'
printf 'quote' >"t/it's"
printf 'dash' >t/-leading-dash
printf 'uni' >t/ünïcödé
printf 'tab' >$'t/tab\there'
: >t/empty
head -c $((5 * 1024 * 1024)) /dev/urandom >t/big
head -c $((256 * 1024)) /dev/urandom >t/chunk-exact
head -c $((512 * 1024 + 1)) /dev/urandom >t/chunk-plus-one
printf 'deep' >t/d1/d2/d3/deep
printf 'sort' >t/a-c
printf 'sort' >t/a/b
printf 'u' >t/ü-dir/file
printf 's' >"t/dir with space/f"
for i in $(seq 1 60); do printf 'small %d' "$i" >"t/d1/small-$i"; done
ln -s plain t/link-to-file
ln -s d1 t/link-to-dir    # a directory link: not followed
ln -s nowhere t/dangling  # left out

expected() {  # expected ROOT: what sha256sum says over find's list
  find "$1" -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
}

# --- -r against find | sort | sha256sum ------------------------------------------------------
expected t >expected.out
for threads in "" "--threads 1" "--threads 4"; do
  # shellcheck disable=SC2086
  if timeout 30 "$checksum" -r $threads t >mine.out 2>mine.err && cmp -s mine.out expected.out && [[ ! -s mine.err ]]; then
    pass "-r $threads: $(wc -l <expected.out) lines identical to find | sort | sha256sum"
  else
    fail "-r $threads differs from find | sort | sha256sum"
    diff <(od -c mine.out) <(od -c expected.out) | head -20 >&2 || true
  fi
done
expected t/ >expected-slash.out
if timeout 30 "$checksum" -r t/ >mine.out && cmp -s mine.out expected-slash.out; then
  pass "-r with a trailing slash"
else
  fail "-r t/ differs"
fi
grep -q 'link-to-file$' expected.out || fail "the tree has no link to a file (test setup)"

# --- plain operands, standard input, errors --------------------------------------------------
run_both "operands in argument order" t/big t/plain t/empty t/-leading-dash 't/back\slash' $'t/new\nline' t/big
run_both "a link given as an operand" t/link-to-file
run_both "missing files and a directory without -r" t/plain missing "missing space" $'miss\ning' "it's gone" t/d1 t/empty
stdin_file=t/big
run_both "standard input as -" -
run_both "standard input among files" t/plain - t/empty
stdin_file=t/plain
run_both "standard input, no operand"
stdin_file=/dev/null
run_both "-- then a name starting with a dash" -- t/-leading-dash

# --- -c against sha256sum -c -----------------------------------------------------------------
find t -xtype f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >sums
run_both "-c, everything OK" -c sums
stdin_file=sums
run_both "-c with the check file on standard input" -c
run_both "-c - (standard input)" -c -
stdin_file=/dev/null
printf 'x' >>t/d1/small-7
run_both "-c with a corrupted file" -c sums
rm t/d1/small-9
run_both "-c with a removed file" -c sums
run_both "-c --quiet" -c --quiet sums
run_both "-c --status" -c --status sums
run_both "-c --ignore-missing" -c --ignore-missing sums
{
  echo "# a comment"
  echo
  echo "garbage line"
  head -n 3 sums
  echo "0123  short"
  printf 'SHA256 (t/plain) = %s\n' "$(sha256sum <t/plain | cut -c1-64)"
  printf '%s  t/plain\r\n' "$(sha256sum <t/plain | cut -c1-64 | tr a-f A-F)"
} >mixed
run_both "-c, improperly formatted lines counted" -c mixed
run_both "-c -w, improperly formatted lines warned" -c -w mixed
run_both "-c --strict" -c --strict mixed
printf 'junk\n' >junk
run_both "-c with no properly formatted line" -c junk
run_both "-c with a missing check file and a directory" -c nosuch t/d1 sums
printf '%s  -\n' "$(sha256sum <t/plain | cut -c1-64)" >stdin-sums
stdin_file=t/plain
run_both "-c with a '-' entry: standard input" -c stdin-sums
stdin_file=/dev/null

if [[ $(id -u) -ne 0 ]]; then
  printf 'secret' >t/unreadable
  chmod 000 t/unreadable
  run_both "an unreadable file" t/plain t/unreadable
  rm -f t/unreadable
else
  echo "skip: unreadable files (running as root, which reads them anyway)"
fi

# --- usage -----------------------------------------------------------------------------------
for bad in "--bogus" "-x" "--threads 0" "--threads" "-r -c sums" "--quiet t/plain"; do
  rc=0
  # shellcheck disable=SC2086
  timeout 10 "$checksum" $bad >usage.out 2>usage.err || rc=$?
  if [[ $rc -eq 2 && -s usage.err && ! -s usage.out ]] && grep -q '^usage:' usage.err; then
    pass "'$bad': usage on stderr, exit 2"
  else
    fail "'$bad': exit $rc (want 2 and the usage on stderr)"
  fi
done
rc=0
timeout 10 "$checksum" --help >usage.out 2>usage.err || rc=$?
if [[ $rc -eq 0 ]] && grep -q '^usage:' usage.out && [[ ! -s usage.err ]]; then
  pass "--help: usage on stdout, exit 0"
else
  fail "--help: exit $rc"
fi

# --- the progress line: on a terminal only ---------------------------------------------------
if timeout 30 "$checksum" -r t >mine.out 2>mine.err && [[ ! -s mine.err ]]; then
  pass "no progress line when stdout and stderr are not a terminal"
else
  fail "something on stderr without a terminal: $(od -c mine.err | head -3)"
fi
if command -v script >/dev/null; then
  # script(1) gives the program a pseudo-terminal for stdout and stderr.
  timeout 30 script -qec "'$checksum' -r t/d1" /dev/null </dev/null >tty.out || true
  if grep -q $'\033\\[K' tty.out && grep -q 'small-1$' <(tr -d '\r' <tty.out); then
    pass "on a terminal the progress line is drawn and cleared"
  else
    fail "no progress line on a terminal: $(od -c tty.out | head -5)"
  fi
  if tr -d '\r' <tty.out | sed 's/\x1b\[K//g' | grep -q 'files$'; then
    fail "a progress line was left on the terminal"
  fi
else
  echo "skip: script(1) not installed; the terminal check did not run"
fi

if [[ $failures -gt 0 ]]; then
  echo "e2e_test: $failures check(s) FAILED" >&2
  exit 1
fi
echo "e2e_test: all checks passed"
