# The sources that shape kcache's artifacts, and so its compiler id (store/compiler_id.cmake):
# every source and header under kernels/ and targets/ at any depth -- a front end, target or
# helper in a nested folder counts as much as one at the top -- and the store's canonical form
# and keys. Sets OUT_VAR to their paths relative to ROOT, sorted.
function(kcache_compiler_sources root out_var)
  file(GLOB_RECURSE found RELATIVE "${root}"
    "${root}/kernels/*.cpp" "${root}/kernels/*.hpp" "${root}/kernels/*.h" "${root}/kernels/*.inc"
    "${root}/targets/*.cpp" "${root}/targets/*.hpp" "${root}/targets/*.h" "${root}/targets/*.inc")
  foreach(f store/canonical_ir.cpp store/canonical_ir.hpp store/keys.cpp store/keys.hpp)
    if(EXISTS "${root}/${f}")
      list(APPEND found "${f}")
    endif()
  endforeach()
  list(SORT found)
  set(${out_var} "${found}" PARENT_SCOPE)
endfunction()
