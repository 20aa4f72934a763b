#!/usr/bin/env bash
# Builds a tree-sitter grammar into a shared library that repo2agent can load,
# the way helix and ast-grep users do:
#
#   examples/languages/build-grammar.sh GRAMMAR_SRC_DIR OUT.so
#
# GRAMMAR_SRC_DIR is a grammar's `src/` (parser.c, optionally scanner.c or
# scanner.cc), e.g. the `src/` of the tree-sitter-lua crate or npm package.
set -euo pipefail
src=${1:?grammar src dir}; out=${2:?output .so}
files=("$src/parser.c")
[ -f "$src/scanner.c" ] && files+=("$src/scanner.c")
cc=${CC:-cc}
if [ -f "$src/scanner.cc" ]; then
  ${CXX:-c++} -shared -fPIC -O2 -I "$src" -o "$out" "${files[@]}" "$src/scanner.cc"
else
  "$cc" -shared -fPIC -O2 -I "$src" -o "$out" "${files[@]}"
fi
echo "built $out"
