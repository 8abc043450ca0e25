# Runs kcache_bench_runtime's CUDA benchmarks against the fake CUDA driver at smoke sizes and
# checks its JSON: every benchmark of bench/runtime_gpu_bench.cpp ran without an error, its
# counters are there, and the context names the device, its architecture and the driver.
# cmake -DBENCH=<kcache_bench_runtime> -DFAKE=<libkcache_fake_cuda.so> -DOUT=<json> -P this
cmake_minimum_required(VERSION 3.25)
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env KCACHE_CUDA_DRIVER=${FAKE} KCACHE_BENCH_SMOKE=1
    ${BENCH} --benchmark_filter=^BM_Cuda --benchmark_min_time=0.01
    --benchmark_out=${OUT} --benchmark_out_format=json
  RESULT_VARIABLE rc OUTPUT_VARIABLE console ERROR_VARIABLE console)
message("${console}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kcache_bench_runtime exited with ${rc}")
endif()
file(READ ${OUT} json)

foreach(key cuda_device cuda_arch cuda_driver_api_version cuda_driver_library date)
  string(JSON value ERROR_VARIABLE missing GET "${json}" context ${key})
  if(missing OR value STREQUAL "")
    message(FATAL_ERROR "the JSON's context has no ${key}")
  endif()
endforeach()
string(JSON arch GET "${json}" context cuda_arch)
if(NOT arch STREQUAL "sm_90") # the fake reports compute capability 9.0
  message(FATAL_ERROR "context cuda_arch is '${arch}', not sm_90")
endif()

# name -> the counter it must carry
set(expected
  "BM_CudaLaunch/kcache=vs_raw" "BM_CudaLaunch/handle=vs_raw" "BM_CudaLaunch/raw=vs_raw"
  "BM_CudaBandwidth/memcpy=bytes_per_second" "BM_CudaBandwidth/copy=of_memcpy"
  "BM_CudaBandwidth/saxpy=of_memcpy" "BM_CudaBandwidth/transpose=of_memcpy"
  "BM_CudaMatmulTiled/64/manual_time=FLOP/s")
foreach(kernel axpby_ir copy fill matmul matmul_tiled reduce_sum saxpy softmax_rows transpose vadd)
  list(APPEND expected "BM_CudaFirstLaunch/${kernel}/iterations:1/manual_time=compile_ms")
endforeach()

string(JSON count LENGTH "${json}" benchmarks)
math(EXPR last "${count} - 1")
set(seen "")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" benchmarks ${i} name)
  string(JSON error ERROR_VARIABLE none GET "${json}" benchmarks ${i} error_occurred)
  if(error)
    string(JSON why GET "${json}" benchmarks ${i} error_message)
    message(FATAL_ERROR "${name} failed: ${why}")
  endif()
  list(APPEND seen "${name}")
  foreach(entry IN LISTS expected)
    string(REGEX REPLACE "=.*" "" want "${entry}")
    string(REGEX REPLACE ".*=" "" counter "${entry}")
    if(name STREQUAL want OR name STREQUAL "${want}/manual_time")
      string(JSON value ERROR_VARIABLE absent GET "${json}" benchmarks ${i} ${counter})
      if(absent)
        message(FATAL_ERROR "${name} has no ${counter}")
      endif()
    endif()
  endforeach()
endforeach()
foreach(entry IN LISTS expected)
  string(REGEX REPLACE "=.*" "" want "${entry}")
  if(NOT want IN_LIST seen AND NOT "${want}/manual_time" IN_LIST seen)
    message(FATAL_ERROR "no ${want} among the benchmarks run: ${seen}")
  endif()
endforeach()
list(LENGTH expected n)
message(STATUS "${n} CUDA benchmarks ran against the fake driver; context names ${arch}")
