#!/usr/bin/env bash
# Architecture rules that a compiler does not check:
#  1. the bpf() system call is made in one place only (src/syscall.cpp), so every call is named and
#     classified the same way;
#  2. library code never shells out (no system/popen/exec*): syscalls and netlink only;
#  3. no hand-written source file over 800 lines;
#  4. public headers never include from src/.
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
fail=0
bad=$(grep -rln 'SYS_bpf\|__NR_bpf' src include | grep -v '^src/syscall.cpp$')
[ -n "$bad" ] && { echo "bpf() called outside src/syscall.cpp: $bad"; fail=1; }
bad=$(grep -rnE '\b(system|popen|execl|execlp|execv|execvp|execve|posix_spawnp?)\s*\(' src include | grep -v '^\s*//')
[ -n "$bad" ] && { echo "library code shells out:"; echo "$bad"; fail=1; }
while read -r n f; do
  [ "$f" = total ] && continue
  [ "$n" -gt 800 ] && { echo "$f has $n lines (limit 800): split it by concept"; fail=1; }
done < <(find src include lb tools tests bench examples fuzz -name '*.cpp' -o -name '*.hpp' 2>/dev/null | xargs wc -l)
bad=$(grep -rn '#include "\.\./src\|#include "src/' include)
[ -n "$bad" ] && { echo "public header includes a private one: $bad"; fail=1; }
[ $fail = 0 ] && echo "layering rules hold"
exit $fail
