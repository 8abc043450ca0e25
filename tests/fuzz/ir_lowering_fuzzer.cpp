// IR method sources through the front end and lowering, for each target. An input is
//
//   <target><format><opt><signature>\n<the IR of kernel @k>
//
// target: n (nvptx), a (amdgpu), h (host); format: b (bitcode) or t (text); opt: 0..3; signature:
// a digit picks one of kSignatures, anything else starts the argument types as `kcache compile
// --types` takes them. E.g. "nt21\n..." or "ht0Ptr{Float64},Int32\n...". Every other byte still
// picks something (by its value; types that do not parse pick from kSignatures too), so that
// mutations of the header are not wasted: the type-name parser has a harness of its own.
// The kernel is compiled through a KernelCompiler, whose front end dispatches the generic calls it
// declares to the kernel library. Any kcache::Error is a fine answer (a LoweringCrashError is a
// contained crash); anything else -- an uncontained crash, another exception, a hang, a leak --
// is a finding.
#include "kernels/errors.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "kernels/type_names.hpp"
#include "targets/target_errors.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

using namespace kcache;

// What became of the inputs, printed when the process ends: evidence of how deep the run got
// (how many reached LLVM, how many crashes were contained).
struct Outcomes {
    std::atomic<std::uint64_t> rejected{0}, type_errors{0}, parse_errors{0}, convention_errors{0},
        lowering_errors{0}, contained_crashes{0}, other_errors{0}, compiled{0};
    ~Outcomes() {
        std::fprintf(
            stderr,
            "ir_lowering_fuzzer outcomes: rejected header %llu, types replaced %llu, IR parse "
            "errors %llu, convention errors %llu, lowering errors %llu, contained "
            "crashes %llu, other errors %llu, compiled %llu\n",
            n(rejected), n(type_errors), n(parse_errors), n(convention_errors), n(lowering_errors),
            n(contained_crashes), n(other_errors), n(compiled));
    }
    static unsigned long long n(const std::atomic<std::uint64_t>& c) { return c.load(); }
};
Outcomes outcomes;

// Signatures of the usual kernel shapes, so that most inputs spend their bytes on IR.
const char* const kSignatures[] = {
    "Ptr{Float32}",
    "Ptr{Float32},Int32",
    "Ptr{Float32},Ptr{Float32},Ptr{Float32},Int32",
    "Ptr{Float32},Ptr{Float32},Int32",
    "Float32,Ptr{Float32},Float32,Ptr{Float32},Int32",
    "Int32,Int32,Ptr{Int32}",
    "Ptr{Float64},Ptr{Float64},Int32",
    "Ptr{Int32},Int32",
    "Float16,Ptr{Float16},Int32",
    "Ptr{Int8},Int64,Bool",
};

// The table kernels are defined in: over the global one, where the library lives.
MethodTable& fuzz_table() {
    static MethodTable& table = []() -> MethodTable& {
        kernels::register_all();
        return MethodTable::create_overlay("fuzz.ir_lowering");
    }();
    return table;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t eol = input.find('\n');
    if (eol == std::string_view::npos || eol < 4 || eol + 1 == input.size()) {
        ++outcomes.rejected;
        return -1; // not an input of this harness: keep it out of the corpus
    }
    const std::string_view header = input.substr(0, eol), ir = input.substr(eol + 1);
    static constexpr std::string_view kTargets = "nah";
    static const TargetKind kKinds[] = {TargetKind::nvptx(), TargetKind::amdgpu(),
                                        TargetKind::host()};
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(header[i]); };
    TargetSpec spec;
    const std::size_t target = kTargets.find(header[0]);
    spec.kind = kKinds[target != std::string_view::npos ? target : byte(0) % 3];
    const bool bitcode = header[1] == 'b';
    spec.opt_level = header[2] >= '0' && header[2] <= '3' ? header[2] - '0' : byte(2) % 4;
    const bool digit = header[3] >= '0' && header[3] <= '9';
    const std::string_view fallback = kSignatures[digit ? header[3] - '0' : byte(3) % 10];

    MethodTable& table = fuzz_table();
    Function& k = Function::define("k");
    Type tt;
    try {
        tt = kernels::parse_type_list(digit ? fallback : header.substr(3));
    } catch (const kernels::KernelTypeError&) {
        ++outcomes.type_errors;
        tt = kernels::parse_type_list(fallback);
    }
    try {
        const std::vector<Type> params(tt.elements().begin(), tt.elements().end());
        kernels::LlvmIR source =
            bitcode ? kernels::LlvmIR::bitcode(std::vector<std::uint8_t>(ir.begin(), ir.end()))
                    : kernels::LlvmIR::text(std::string(ir));
        kernels::add_ir_method(table, k, Signature(params), std::move(source));
        kernels::KernelCompiler compiler(table, "fuzz.ir_lowering");
        compiler.compile(k, tt, spec);
        ++outcomes.compiled;
    } catch (const IRParseError&) { // typed errors are fine answers to hostile IR
        ++outcomes.parse_errors;
    } catch (const kernels::IRConventionError&) {
        ++outcomes.convention_errors;
    } catch (const LoweringCrashError&) {
        ++outcomes.contained_crashes;
    } catch (const LoweringError&) {
        ++outcomes.lowering_errors;
    } catch (const Error&) {
        ++outcomes.other_errors;
    }
    return 0;
}
