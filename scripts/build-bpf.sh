#!/usr/bin/env bash
# Compiles every bpf/*.c into dist/bpf/<name>.o. Flags: ebpf.md section 1 (clang 14 on Debian needs
# the multiarch include dir for asm/types.h; -mcpu=v3 for 32-bit jumps and ALU).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BRAID_BPF_OUT:-$root/dist/bpf}"
clang_bin="${CLANG:-clang}"
mkdir -p "$out"
shopt -s nullglob
for src in "$root"/bpf/*.c; do
  name="$(basename "$src" .c)"
  "$clang_bin" -target bpf -O2 -g -mcpu=v3 -Wall -Werror \
    -I/usr/include/x86_64-linux-gnu -I"$root/bpf" \
    ${BPF_CFLAGS:-} -c "$src" -o "$out/$name.o.tmp"
  mv "$out/$name.o.tmp" "$out/$name.o"
  echo "built $out/$name.o"
done
